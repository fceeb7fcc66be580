package devcluster

// The dev realm: config/dev, what `make run` brings up and hack/e2e drives. Every dialect at
// its default prefix, two replicas, the default managed Redis, a cookie that is not Secure
// (the node serves plain HTTP), a device client and an app client.
const (
	DevNamespace    = "latch-dev"
	DevRealm        = "dev"
	DevDeviceClient = "dev-device"
	DevAppClient    = "dev-app"
)

// DevSamples are the dev realm's manifests, for Options.Samples with Namespace DevNamespace.
var DevSamples = []string{"config/dev/realm.yaml", "config/dev/clients.yaml"}

package reactauthtest_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/latchauth/latch/authserver/dialect/reactauth/reactauthtest"
	"github.com/latchauth/latch/authserver/servertest"
)

// The reactAuth socket helper as another dialect's test uses it: a session created on one
// replica (here through the account dialect), a socket bound to it on another, the session
// ended on the first, the close push awaited on the second.
func TestMain(m *testing.M) { servertest.Main(m) }

func TestReactAuthSocketHelper(t *testing.T) {
	a := servertest.Start(t, servertest.Options{Config: reactauthtest.Enable})
	b := a.Sibling(t)

	body, _ := json.Marshal(map[string]string{"login": "helper@example.com", "password": "long enough password"})
	resp, err := http.Post(a.PublicURL+"/account/register", "application/json", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var tok string
	for _, c := range resp.Cookies() {
		if c.Name == "latch_session" {
			tok = c.Value
		}
	}
	if resp.StatusCode != http.StatusOK || tok == "" {
		t.Fatalf("register: %d, cookie %q", resp.StatusCode, tok)
	}

	sock := reactauthtest.Bind(t, b, tok)
	idle := reactauthtest.Dial(t, b, nil)
	if idle.Resume(tok[:len(tok)-1]) {
		t.Fatal("a malformed token resumed")
	}

	req, _ := http.NewRequest(http.MethodPost, a.PublicURL+"/account/logout", nil)
	req.Header.Set("Cookie", "latch_session="+tok)
	began := time.Now()
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	at := sock.WaitClose(time.Second)
	t.Logf("logout on A to close push on B: %s", at.Sub(began).Round(time.Microsecond))
	idle.ExpectSilence(200 * time.Millisecond)
	if sock.Resume(tok) {
		t.Error("the ended session resumed")
	}
}

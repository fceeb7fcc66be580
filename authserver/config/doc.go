// Package config is the auth server's configuration schema: the one file that `latch server
// --config FILE` reads and that the operator renders into each realm's ConfigMap.
package config

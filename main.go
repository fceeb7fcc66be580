// Command latch is Latch's one binary: `latch manager` runs the operator, `latch server`
// runs an auth server and `latch admin` administers a realm's users and sessions. One image
// serves all three.
package main

import (
	"context"
	_ "embed"
	"fmt"
	"os"
	"strings"

	"github.com/latchauth/latch/authserver/admin"
)

// defaultImage is the image the operator runs servers from when a realm names none. It is
// the one value shared with the Helm chart and the Makefile (hack/IMAGE).
//
//go:embed hack/IMAGE
var defaultImageFile string

func defaultImage() string { return strings.TrimSpace(defaultImageFile) }

const usage = `latch: an operator-managed auth cluster.

Usage:
  latch manager [flags]   run the operator (latch manager -h for flags)
  latch server [flags]    run an auth server (latch server --config FILE; -h for flags)
  latch admin [flags] CMD administer a realm's users and sessions (latch admin -h)
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "manager":
		err = runManager(os.Args[2:])
	case "server":
		err = runServer(os.Args[2:])
	case "admin":
		os.Exit(admin.Main(context.Background(), os.Args[2:], os.Stdout, os.Stderr))
	case "-h", "--help", "help":
		fmt.Print(usage)
		return
	default:
		fmt.Fprintf(os.Stderr, "latch: unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "latch %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

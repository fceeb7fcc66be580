package admin

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/latchauth/latch/authserver/core"
	"github.com/latchauth/latch/authserver/importer"
)

// maxReportedErrors bounds the line errors an import prints; the count includes them all.
const maxReportedErrors = 1000

// parseImport parses `import FILE [--format F] [--workers N]`.
func parseImport(args []string) (command, error) {
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	format := fs.String("format", "", "")
	workers := fs.Int("workers", 32, "")
	// The file may come before or after the flags.
	var file string
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		file, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return nil, usagef("import takes FILE [--format devise-csv|devise-jsonl|jsonl] [--workers N]")
	}
	if file == "" && fs.NArg() == 1 {
		file = fs.Arg(0)
	} else if fs.NArg() > 0 {
		return nil, usagef("import takes one FILE")
	}
	if file == "" || *workers < 1 || *workers > 1024 {
		return nil, usagef("import takes FILE [--format devise-csv|devise-jsonl|jsonl] [--workers 1..1024]")
	}
	f, err := importer.ParseFormat(*format, file)
	if err != nil {
		return nil, usagef("import: %v", err)
	}
	return func(ctx context.Context, a core.Admin, out printer) error {
		return runImport(ctx, a, out, file, f, *workers)
	}, nil
}

// runImport imports the file, printing each failed line (up to maxReportedErrors) and then the
// counts; any failed line makes the command fail, after the rest has been imported.
func runImport(ctx context.Context, a core.Admin, out printer, file string, f importer.Format, workers int) (err error) {
	in, err := os.Open(file)
	if err != nil {
		return err
	}
	defer in.Close()
	var c importer.Counts
	defer func() {
		a.AuditImport(ctx, filepath.Base(file), map[string]int{
			"read": c.Read, "created": c.Created, "pending": c.Pending, "skipped": c.Skipped,
			"failed": c.Failed, "tokens": c.Tokens, "expiredTokens": c.ExpiredTokens, "foreignHashes": c.ForeignHashes,
		}, err)
	}()
	r, err := importer.NewReader(in, f)
	if err != nil {
		return err
	}
	var lineErrors []string
	c, err = importer.Run(ctx, a.Service.Store, r, importer.Options{
		Workers:  workers,
		Confirms: a.Service.Config.Registration.Confirms(),
		Now:      a.Service.Now,
		OnError: func(e *importer.LineError) {
			if len(lineErrors) < maxReportedErrors {
				lineErrors = append(lineErrors, e.Error())
			}
		},
	})
	summary := fmt.Sprintf("read %d, created %d (%d pending, %d with another system's password hash), skipped %d existing, failed %d; devise tokens: %d kept, %d expired",
		c.Read, c.Created, c.Pending, c.ForeignHashes, c.Skipped, c.Failed, c.Tokens, c.ExpiredTokens)
	if out.json {
		if perr := out.asJSON(map[string]any{"counts": c, "errors": nonNilStrings(lineErrors)}); perr != nil && err == nil {
			err = perr
		}
	} else {
		for _, e := range lineErrors {
			fmt.Fprintln(out.w, e)
		}
		if c.Failed > len(lineErrors) {
			fmt.Fprintf(out.w, "(%d more failed lines not shown)\n", c.Failed-len(lineErrors))
		}
		fmt.Fprintln(out.w, summary)
	}
	switch {
	case err != nil:
		return fmt.Errorf("import stopped (%s): %w", summary, err)
	case c.Failed > 0:
		return errors.New(summary)
	}
	return nil
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

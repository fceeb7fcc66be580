package main

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/gctune"
	"github.com/latchauth/latch/authserver/logsink"
	"github.com/latchauth/latch/authserver/server"
)

// runServer runs an auth server until SIGTERM or SIGINT, then shuts it down gracefully. A
// second signal during the shutdown kills the process.
func runServer(args []string) error {
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	configPath := fs.String("config", "", "path of the server config file (required)")
	addrFile := fs.String("addr-file", "", "once listening, write the bound addresses as JSON {\"public\",\"admin\"} to this file")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if *configPath == "" {
		return errors.New("--config FILE is required")
	}
	if fs.NArg() > 0 {
		return errors.New("unexpected arguments after the flags")
	}
	// A bad file stops here, before anything listens; the error names the field.
	cfg, err := config.Load(*configPath)
	if err != nil {
		return err
	}
	// Lines are batched (one write per flush, not per request) and a warning or an error is
	// written at once; everything left is written before the process exits.
	sink := logsink.New(os.Stdout, logsink.DefaultFlushInterval)
	defer sink.Close()
	logger := slog.New(logsink.Handler(
		slog.NewJSONHandler(sink, &slog.HandlerOptions{Level: logLevel(cfg.Log.Level)}), sink, slog.LevelWarn))

	// A small live heap gets 32 MiB of headroom between collections instead of GOGC=100's
	// few MiB (package gctune); GOGC in the environment wins.
	defer gctune.Start(gctune.DefaultHeadroom).Stop()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	context.AfterFunc(ctx, stop) // after the first signal, the default action is back
	var opts []server.Option
	if *addrFile != "" {
		opts = append(opts, server.WithAddrFile(*addrFile))
	}
	return server.Run(ctx, cfg, logger, opts...)
}

func logLevel(s string) slog.Level {
	switch s {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

package kubectllatch

import (
	"context"
	"errors"
	"fmt"
	"io"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
	utilexec "k8s.io/client-go/util/exec"
	"k8s.io/streaming/pkg/httpstream"
)

// auditLogPath is where latch admin writes its audit events inside the pod: the standard
// output of the container's PID 1. An exec'd process's own stdout and stderr go back to the
// caller only, so an audit event written there would reach the one person whose actions it
// records, and no log collector. PID 1 of the server container is `latch server` itself:
// the image's entrypoint is the exec-form ENTRYPOINT ["/latch"] on a scratch image (no shell,
// no init), and the operator's pods do not share a process namespace (no pause process as
// PID 1). So the events land in `kubectl logs` of the pod beside the server's own audit
// events. The exec'd process runs as the container's user, the same as PID 1's, so it may
// open PID 1's descriptors; an audit line is far below PIPE_BUF, so it is never interleaved
// with a server line on the pipe.
const auditLogPath = "/proc/1/fd/1"

// Executor runs argv in the target's container, streaming stdin (nil: none) to it and its
// output back, and returns its exit code. err is for a command that could not be run or
// followed to its end; a command that ran and failed is a non-zero code, not an error.
type Executor interface {
	Exec(ctx context.Context, t Target, argv []string, stdin io.Reader, stdout, stderr io.Writer) (code int, err error)
}

// AdminArgv is the command line latch admin runs with in the target: the pod's config, the
// caller's identity as the actor, the audit log in the container's log stream, then the
// caller's output format and command. It is the only place the plugin sets --actor.
func AdminArgv(t Target, actor, output string, command []string) []string {
	argv := []string{t.Binary, "admin", "--config", t.ConfigPath, "--actor", actor, "--audit-log", auditLogPath}
	if output != "" {
		// latch admin reads -o before its command word; kubectl users put it anywhere.
		argv = append(argv, "-o", output)
	}
	return append(argv, command...)
}

// PodExecutor runs commands through the API server's pods/exec subresource, as kubectl exec
// does: WebSocket first, SPDY when the API server or a proxy between cannot upgrade to it.
type PodExecutor struct {
	Config *rest.Config
	Core   rest.Interface // the core/v1 REST client
}

func (e PodExecutor) Exec(ctx context.Context, t Target, argv []string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	req := e.Core.Post().Resource("pods").Namespace(t.Namespace).Name(t.Pod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{Container: t.Container, Command: argv, Stdin: stdin != nil, Stdout: true, Stderr: true}, scheme.ParameterCodec)
	spdy, err := remotecommand.NewSPDYExecutor(e.Config, "POST", req.URL())
	if err != nil {
		return 0, err
	}
	// A WebSocket upgrade must be a GET (RFC 6455).
	ws, err := remotecommand.NewWebSocketExecutor(e.Config, "GET", req.URL().String())
	if err != nil {
		return 0, err
	}
	exec, err := remotecommand.NewFallbackExecutor(ws, spdy, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
	if err != nil {
		return 0, err
	}
	err = exec.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: stdin, Stdout: stdout, Stderr: stderr})
	var exit utilexec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitStatus(), nil
	}
	if err != nil {
		return 0, fmt.Errorf("exec in pod %s/%s: %w", t.Namespace, t.Pod, err)
	}
	return 0, nil
}

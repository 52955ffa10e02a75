// Command mqcluster runs a compute cluster over MQTT: the embedded broker,
// the coordinator, workers, and the jobs you submit to them.
package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/mqcluster/mqcluster/client"
)

func main() {
	// Signals are handled here once; the packages below only see ctx.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRootCommand().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "mqcluster:", err)
		if hint := apiHint(err); hint != "" {
			fmt.Fprintln(os.Stderr, "mqcluster:", hint)
		}
		os.Exit(1)
	}
}

// apiHint returns what to do about err from the HTTP API, or "".
func apiHint(err error) string {
	var status *client.StatusError
	var unknownAuthority x509.UnknownAuthorityError
	switch {
	case errors.As(err, &status) && status.Code == http.StatusUnauthorized:
		if os.Getenv(envAPIToken) == "" {
			return "this coordinator needs its API token: give --token-file FILE or set " + envAPIToken
		}
		return "the token of " + envAPIToken + " or --token-file is not this coordinator's"
	case errors.As(err, &status) && status.Code == http.StatusBadRequest && strings.Contains(status.Message, "HTTPS server"):
		return "the API serves HTTPS: use --server https://..."
	case errors.As(err, &unknownAuthority):
		return "the API's certificate is not signed by a trusted authority: give --api-ca with the cluster's ca.pem"
	}
	return ""
}

package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/mqcluster/mqcluster/protocol"
)

// globalFlags are the flags every command takes.
type globalFlags struct {
	logLevel  string
	logFormat string
}

// clusterFlags name the cluster's topics, on the commands that talk MQTT.
type clusterFlags struct {
	cluster   string
	topicRoot string
}

func (f *clusterFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.cluster, "cluster", protocol.DefaultCluster, "cluster name, part of every MQTT topic and client id, so clusters can share a broker")
	cmd.Flags().StringVar(&f.topicRoot, "topic-root", protocol.DefaultRoot, "first level(s) of every MQTT topic")
}

func newRootCommand() *cobra.Command {
	g := &globalFlags{}
	root := &cobra.Command{
		Use:           "mqcluster",
		Short:         "Cluster computing over MQTT for microcontrollers and Linux machines",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	pf := root.PersistentFlags()
	pf.StringVar(&g.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	pf.StringVar(&g.logFormat, "log-format", "auto", "log format: text, json, or auto (text on a terminal, JSON otherwise)")
	root.AddCommand(
		newUpCommand(g),
		newUserCommand(g),
		newCoordinatorCommand(g),
		newWorkerCommand(g),
		newImageCommand(g),
		newNodesCommand(g),
		newJobsCommand(g),
		newJobCommand(g),
		newCancelCommand(g),
		newBenchCommand(g),
		newCertsCommand(g),
	)
	return root
}

func (f *clusterFlags) topics() (protocol.Topics, error) {
	t, err := protocol.NewTopics(f.topicRoot, f.cluster)
	if err != nil {
		return t, fmt.Errorf("--cluster or --topic-root: %w", err)
	}
	return t, nil
}

// logger builds the logger from --log-level and --log-format, writing to stderr.
func (g *globalFlags) logger() (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(g.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level: %q is not debug, info, warn or error", g.logLevel)
	}
	opts := &slog.HandlerOptions{Level: level}
	var w io.Writer = os.Stderr
	switch strings.ToLower(g.logFormat) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "auto":
		if term.IsTerminal(int(os.Stderr.Fd())) {
			return slog.New(slog.NewTextHandler(w, opts)), nil
		}
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format: %q is not text, json or auto", g.logFormat)
}

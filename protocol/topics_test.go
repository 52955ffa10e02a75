package protocol

import (
	"errors"
	"testing"
)

func TestTopicsLayout(t *testing.T) {
	topics, err := NewTopics("", "lab")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := topics.Node("esp-1", ChannelTasks), "mqc/v1/lab/nodes/esp-1/tasks"; got != want {
		t.Errorf("Node = %q, want %q", got, want)
	}
	if got, want := topics.AllNodes(ChannelResults), "mqc/v1/lab/nodes/+/results"; got != want {
		t.Errorf("AllNodes = %q, want %q", got, want)
	}
	if got, want := topics.CoordinatorPresence(), "mqc/v1/lab/coordinator/presence"; got != want {
		t.Errorf("CoordinatorPresence = %q, want %q", got, want)
	}
}

func TestTopicsParseNode(t *testing.T) {
	topics, _ := NewTopics("site/a", "lab")
	tests := []struct {
		topic, id, channel string
		ok                 bool
	}{
		{"site/a/v1/lab/nodes/a4:cf:12:0b:3e:01/results", "a4:cf:12:0b:3e:01", "results", true},
		{"site/a/v1/lab/nodes/n1/presence", "n1", "presence", true},
		{"site/a/v1/other/nodes/n1/presence", "", "", false},
		{"site/a/v1/lab/nodes/n1", "", "", false},
		{"site/a/v1/lab/nodes//results", "", "", false},
		{"site/a/v1/lab/nodes/n1/results/extra", "", "", false},
	}
	for _, tt := range tests {
		id, channel, ok := topics.ParseNode(tt.topic)
		if id != tt.id || channel != tt.channel || ok != tt.ok {
			t.Errorf("ParseNode(%q) = %q, %q, %v; want %q, %q, %v", tt.topic, id, channel, ok, tt.id, tt.channel, tt.ok)
		}
	}
}

func TestTopicsRejectWildcards(t *testing.T) {
	for _, cluster := range []string{"a/b", "+", "#", "a b", ""} {
		if cluster == "" {
			continue // empty means the default
		}
		if _, err := NewTopics("", cluster); err == nil {
			t.Errorf("NewTopics(cluster %q) succeeded, want an error", cluster)
		}
	}
}

func TestValidateNodeID(t *testing.T) {
	for _, id := range []string{"n1", "a4:cf:12:0b:3e:01", "rpi-4.lab_2"} {
		if err := ValidateNodeID(id); err != nil {
			t.Errorf("ValidateNodeID(%q) = %v, want nil", id, err)
		}
	}
	long := string(make([]byte, MaxIDLen+1))
	for _, id := range []string{"", "a/b", "n+", "n#", "with space", long} {
		if err := ValidateNodeID(id); !errors.Is(err, ErrInvalid) {
			t.Errorf("ValidateNodeID(%q) = %v, want ErrInvalid", id, err)
		}
	}
}

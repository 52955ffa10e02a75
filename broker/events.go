package broker

import (
	"bytes"
	"log/slog"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// eventHook logs client connects and disconnects at Debug level, with the
// client id and remote address, and passes connects on to Options.OnConnect.
type eventHook struct {
	mochi.HookBase
	log       *slog.Logger
	onConnect func(clientID string)
}

func (h *eventHook) ID() string { return "mqcluster-events" }

func (h *eventHook) Provides(b byte) bool {
	return bytes.Contains([]byte{mochi.OnSessionEstablished, mochi.OnDisconnect}, []byte{b})
}

func (h *eventHook) OnSessionEstablished(cl *mochi.Client, _ packets.Packet) {
	h.log.Debug("client connected", "client", cl.ID, "remote", cl.Net.Remote)
	if h.onConnect != nil {
		h.onConnect(cl.ID)
	}
}

func (h *eventHook) OnDisconnect(cl *mochi.Client, err error, _ bool) {
	h.log.Debug("client disconnected", "client", cl.ID, "remote", cl.Net.Remote, "error", err)
}

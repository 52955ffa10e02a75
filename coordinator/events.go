package coordinator

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/mqcluster/mqcluster/api"
)

// eventInterval is the time between two snapshots on the event stream.
const eventInterval = 500 * time.Millisecond

// Snapshot is one message of the event stream: the whole state a dashboard
// shows.
type Snapshot struct {
	Time  time.Time  `json:"time"`
	Nodes []api.Node `json:"nodes"`
	Jobs  []api.Job  `json:"jobs"`
	Stats api.Stats  `json:"stats"`
}

// serveEvents streams a Snapshot every eventInterval as Server-Sent Events
// until the client goes away.
func (c *Coordinator) serveEvents(w http.ResponseWriter, r *http.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		writeError(w, http.StatusInternalServerError, fmt.Errorf("streaming is not supported by this connection"))
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	tick := time.NewTicker(eventInterval)
	defer tick.Stop()
	for {
		snap := Snapshot{Time: time.Now(), Nodes: c.Nodes(), Jobs: c.Jobs(), Stats: c.Stats()}
		data, err := json.Marshal(snap)
		if err != nil {
			return
		}
		if _, err := fmt.Fprintf(w, "event: snapshot\ndata: %s\n\n", data); err != nil {
			return
		}
		flusher.Flush()
		select {
		case <-r.Context().Done():
			return
		case <-c.stop:
			return
		case <-tick.C:
		}
	}
}

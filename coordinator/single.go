package coordinator

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mqcluster/mqcluster/protocol"
	"github.com/mqcluster/mqcluster/transport"
)

// ErrAnotherCoordinator is returned by Start when another coordinator of the
// same cluster is online: two would both send tasks and both accept results.
var ErrAnotherCoordinator = errors.New("another coordinator of this cluster is online")

// checkAlone reads the retained coordinator presence. If it shows another
// coordinator is online, checkAlone waits a little for its will, since a
// coordinator restarted right after a crash can see its predecessor's
// presence before the broker publishes the will, and then gives up.
func (c *Coordinator) checkAlone(ctx context.Context) error {
	err := c.conn.Subscribe(ctx, c.opts.Topics.CoordinatorPresence(), 1, c.onCoordinatorPresence)
	if err != nil {
		return fmt.Errorf("coordinator: %w", err)
	}
	defer c.started.Store(true)
	// A retained message arrives right after the subscription; no message
	// within this time means no coordinator ever ran on this cluster.
	timer := time.NewTimer(300 * time.Millisecond)
	defer timer.Stop()
	for {
		select {
		case other := <-c.others:
			if other.Epoch == 0 {
				return nil // the retained presence shows offline
			}
			timer.Reset(2 * time.Second)
			c.log.Info("waiting for the previous coordinator's will", "epoch", other.Epoch)
			last := other
			select {
			case next := <-c.others:
				if next.Epoch == 0 {
					return nil
				}
				last = next
			case <-timer.C:
			case <-ctx.Done():
			}
			return fmt.Errorf("%w: cluster %s, epoch %d (%s); stop it first, or give this one another --cluster",
				ErrAnotherCoordinator, c.opts.Topics.Prefix(), last.Epoch, last.Software)
		case <-timer.C:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// onCoordinatorPresence passes on the presence of other coordinators: an
// online message of another epoch, or Epoch 0 for an offline one. After
// start-up it logs another coordinator as an error.
func (c *Coordinator) onCoordinatorPresence(msg transport.Message) {
	m, err := protocol.Decode(msg.Payload)
	if err != nil {
		return
	}
	var seen protocol.CoordinatorOnline
	switch m := m.(type) {
	case *protocol.CoordinatorOnline:
		if m.Epoch == c.epoch {
			return
		}
		seen = *m
		if !c.started.Load() {
			break // checkAlone reports it
		}
		c.log.Error("another coordinator announced itself on this cluster; two coordinators both dispatch tasks, stop one",
			"other_epoch", m.Epoch, "epoch", c.epoch)
	case *protocol.CoordinatorOffline:
		if m.Epoch == c.epoch {
			return
		}
	default:
		return
	}
	select {
	case c.others <- seen:
	default:
	}
}

package worker

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/mqcluster/mqcluster/protocol"
	"github.com/mqcluster/mqcluster/transport"
)

// onTasks queues the tasks of one message. It runs on the connection's
// delivery goroutine, so it only queues and never waits for a slot.
func (w *Worker) onTasks(msg transport.Message) {
	m, err := protocol.Decode(msg.Payload)
	if err != nil {
		w.metrics.malformed.Inc()
		w.mu.Lock()
		w.malformed++
		logIt := time.Since(w.malformedLogged) >= 10*time.Second
		if logIt {
			w.malformedLogged = time.Now()
		}
		count := w.malformed
		w.mu.Unlock()
		if logIt { // at most every 10 s, so garbage cannot flood the log
			w.log.Warn("dropped malformed tasks message", "error", err, "malformed_total", count)
		}
		return
	}
	if abort, ok := m.(*protocol.Abort); ok {
		w.abort(abort.Tasks)
		return
	}
	tasks, ok := m.(*protocol.Tasks)
	if !ok {
		w.log.Warn("dropped unexpected message on the tasks topic", "type", m.Type())
		return
	}
	w.metrics.messages.WithLabelValues(protocol.ChannelTasks).Inc()
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, t := range tasks.Tasks {
		ref := protocol.TaskRef{ID: t.ID, Attempt: t.Attempt}
		if w.held[ref] {
			continue // a QoS 1 redelivery of a task already here
		}
		if reason, status := w.rejection(t); reason != "" {
			w.log.Warn("rejected task", "task_id", t.ID, "attempt", t.Attempt, "kind", t.Kind, "reason", reason)
			w.queueResultLocked(t.Kind, protocol.Result{ID: t.ID, Attempt: t.Attempt, Status: status, Data: []byte(reason)})
			continue
		}
		w.held[ref] = true
		w.queue = append(w.queue, t)
	}
	w.signal(w.ready)
}

// rejection returns the reason the node cannot run t, or "" if it can.
func (w *Worker) rejection(t protocol.Task) (string, protocol.Status) {
	switch {
	case w.draining.Load():
		return "node " + w.opts.NodeID + " is shutting down", protocol.StatusDeclined
	case w.handlers[t.Kind] == nil:
		return fmt.Sprintf("node %s has no handler for kind %q", w.opts.NodeID, t.Kind), protocol.StatusFailed
	case uint64(len(t.Payload)) > uint64(w.opts.MaxPayload):
		return fmt.Sprintf("payload of %d bytes is larger than the node's maximum of %d", len(t.Payload), w.opts.MaxPayload), protocol.StatusFailed
	}
	return "", 0
}

func (w *Worker) signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// runSlot runs queued tasks one at a time until the worker drains and the
// queue is empty.
func (w *Worker) runSlot(ctx context.Context) {
	for {
		w.mu.Lock()
		if len(w.queue) == 0 {
			draining := w.draining.Load()
			w.mu.Unlock()
			if draining {
				return
			}
			select {
			case <-w.ready:
			case <-w.drainStarted:
			}
			continue
		}
		t := w.queue[0]
		w.queue = w.queue[1:]
		more := len(w.queue) > 0
		w.mu.Unlock()
		if more {
			w.signal(w.ready) // wake another idle slot
		}
		w.queueResult(t.Kind, w.runTask(ctx, t))
	}
}

// abort drops the listed tasks that have not started, answering each as
// declined, and cancels the context of those running [P-33].
func (w *Worker) abort(refs []protocol.TaskRef) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, ref := range refs {
		if cancel := w.running[ref]; cancel != nil {
			w.aborted[ref] = true
			cancel()
			continue
		}
		for i, t := range w.queue {
			if t.ID == ref.ID && t.Attempt == ref.Attempt {
				w.queue = append(w.queue[:i], w.queue[i+1:]...)
				w.queueResultLocked(t.Kind, protocol.Result{ID: t.ID, Attempt: t.Attempt, Status: protocol.StatusDeclined,
					Data: []byte("aborted: the job was cancelled")})
				break
			}
		}
	}
	w.log.Info("aborted tasks of a cancelled job", "tasks", len(refs))
}

func (w *Worker) runTask(ctx context.Context, t protocol.Task) (r protocol.Result) {
	r = protocol.Result{ID: t.ID, Attempt: t.Attempt}
	start := time.Now()
	ref := protocol.TaskRef{ID: t.ID, Attempt: t.Attempt}
	ctx, cancel := context.WithCancel(ctx)
	w.mu.Lock()
	w.running[ref] = cancel
	w.mu.Unlock()
	defer func() {
		cancel()
		w.mu.Lock()
		delete(w.running, ref)
		if w.aborted[ref] {
			delete(w.aborted, ref)
			r.Status, r.Data = protocol.StatusDeclined, []byte("aborted: the job was cancelled")
		}
		w.mu.Unlock()
	}()
	w.log.Debug("task started", "task_id", t.ID, "attempt", t.Attempt, "kind", t.Kind)
	defer func() {
		// A panicking handler fails its task, not the node.
		if p := recover(); p != nil {
			r.Status, r.Data = protocol.StatusFailed, []byte(fmt.Sprintf("panic in %s handler: %v", t.Kind, p))
		}
		w.metrics.duration.WithLabelValues(t.Kind).Observe(time.Since(start).Seconds())
		w.log.Debug("task ran", "task_id", t.ID, "attempt", t.Attempt, "kind", t.Kind,
			"status", r.Status, "elapsed", time.Since(start).String())
	}()
	out, err := w.handlers[t.Kind](ctx, t.Payload)
	if err != nil {
		msg := err.Error()
		if len(msg) > protocol.MaxReasonLen {
			msg = msg[:protocol.MaxReasonLen]
		}
		return protocol.Result{ID: t.ID, Attempt: t.Attempt, Status: protocol.StatusFailed, Data: []byte(msg)}
	}
	r.Data = out
	return r
}

func (w *Worker) queueResult(kind string, r protocol.Result) {
	w.mu.Lock()
	w.queueResultLocked(kind, r)
	w.mu.Unlock()
}

// queueResultLocked queues the result of a task of kind for sending.
func (w *Worker) queueResultLocked(kind string, r protocol.Result) {
	w.metrics.answered(kind, r.Status)
	w.outbox = append(w.outbox, r)
	w.signal(w.outboxReady)
}

// maxResultsBytes caps the outputs one results message carries, unless a
// single output is larger, so that batching never builds a packet that a
// broker's packet size limit refuses.
const maxResultsBytes = 8 << 20

// sendLoop publishes the results. Every result waiting when a publish starts
// goes in that one message (up to Batch results and maxResultsBytes), so
// results batch up under load while a lone result still leaves at once
// [P-31].
func (w *Worker) sendLoop(done <-chan struct{}) {
	for {
		w.mu.Lock()
		n, size := 0, 0
		for n < min(len(w.outbox), w.opts.Batch) && (n == 0 || size+len(w.outbox[n].Data) <= maxResultsBytes) {
			size += len(w.outbox[n].Data)
			n++
		}
		batch := append([]protocol.Result(nil), w.outbox[:n]...)
		w.outbox = w.outbox[n:]
		w.mu.Unlock()
		if n == 0 {
			select {
			case <-w.outboxReady:
				continue
			case <-done:
				return // drain has flushed everything
			}
		}
		w.publishResults(batch)
	}
}

// publishResults retries until the broker takes the results, because a
// result lost here means the task runs again elsewhere.
func (w *Worker) publishResults(batch []protocol.Result) {
	b, err := protocol.Encode(&protocol.Results{Session: w.session.Load(), Results: batch})
	if err != nil {
		w.log.Error("encode results failed", "results", len(batch), "error", err)
		return
	}
	topic := w.opts.Topics.Node(w.opts.NodeID, protocol.ChannelResults)
	for attempt := 0; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = w.conn.Publish(ctx, topic, 1, false, b)
		cancel()
		if err == nil || attempt == 30 {
			break
		}
		w.log.Warn("send results failed, retrying", "results", len(batch), "error", err)
		time.Sleep(time.Second)
	}
	if err != nil {
		w.log.Error("gave up sending results; the coordinator will run these tasks again", "results", len(batch), "error", err)
	} else {
		w.metrics.messages.WithLabelValues(protocol.ChannelResults).Inc()
	}
	w.mu.Lock()
	for _, r := range batch {
		delete(w.held, protocol.TaskRef{ID: r.ID, Attempt: r.Attempt})
	}
	w.mu.Unlock()
	w.signal(w.sent)
}

// drain stops taking tasks: the coordinator learns it from a birth marked
// draining, queued tasks are declined, and running ones get DrainTimeout to
// finish before their context is cancelled.
func (w *Worker) drain(runners *sync.WaitGroup, cancelTasks context.CancelFunc) {
	w.draining.Store(true)
	close(w.drainStarted)
	w.announce(w.session.Load())

	w.mu.Lock()
	for _, t := range w.queue {
		w.queueResultLocked(t.Kind, protocol.Result{ID: t.ID, Attempt: t.Attempt, Status: protocol.StatusDeclined,
			Data: []byte("node " + w.opts.NodeID + " is shutting down")})
	}
	running := len(w.held) - len(w.queue)
	w.queue = nil
	w.mu.Unlock()
	w.log.Info("draining", "running", running, "timeout", w.opts.DrainTimeout.String())

	finished := make(chan struct{})
	go func() { runners.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(w.opts.DrainTimeout):
		w.log.Warn("drain timeout, cancelling running tasks", "timeout", w.opts.DrainTimeout.String())
		cancelTasks()
		<-finished
	}
	w.waitOutboxEmpty(5 * time.Second)
}

// waitOutboxEmpty waits until every result has been published, or timeout.
func (w *Worker) waitOutboxEmpty(timeout time.Duration) {
	deadline := time.After(timeout)
	for {
		w.mu.Lock()
		empty := len(w.outbox) == 0 && len(w.held) == 0
		w.mu.Unlock()
		if empty {
			return
		}
		select {
		case <-w.sent:
		case <-deadline:
			w.log.Warn("results still unsent at shutdown", "timeout", timeout.String())
			return
		}
	}
}

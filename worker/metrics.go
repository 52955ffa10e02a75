package worker

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/mqcluster/mqcluster/protocol"
)

// metrics holds the worker's Prometheus registry. Every series carries the
// node id as a constant label, so that workers scraped through one
// exporter, or run as several processes on one host, stay apart.
type metrics struct {
	registry  *prometheus.Registry
	tasks     *prometheus.CounterVec   // by kind and status
	duration  *prometheus.HistogramVec // handler time, by kind
	messages  *prometheus.CounterVec   // tasks and results messages, by channel
	malformed prometheus.Counter
}

func newMetrics(w *Worker) *metrics {
	labels := prometheus.Labels{"node": w.opts.NodeID}
	m := &metrics{
		registry: prometheus.NewRegistry(),
		tasks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mqcluster_worker_tasks_total", ConstLabels: labels,
			Help: "Tasks the node answered, by kind and status (ok, failed or declined).",
		}, []string{"kind", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "mqcluster_worker_task_seconds", ConstLabels: labels,
			Help:    "Time a task's handler ran, by kind.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2.5, 14), // 100 µs to about 15 min
		}, []string{"kind"}),
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mqcluster_worker_messages_total", ConstLabels: labels,
			Help: "Tasks messages received and results messages sent.",
		}, []string{"channel"}),
		malformed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mqcluster_worker_malformed_messages_total", ConstLabels: labels,
			Help: "Tasks messages dropped because they did not decode.",
		}),
	}
	held := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "mqcluster_worker_tasks_held", ConstLabels: labels,
		Help: "Tasks on the node: running, waiting for a slot, or with a result not yet sent.",
	}, func() float64 {
		w.mu.Lock()
		defer w.mu.Unlock()
		return float64(len(w.held))
	})
	running := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "mqcluster_worker_tasks_running", ConstLabels: labels,
		Help: "Tasks whose handler is running.",
	}, func() float64 {
		w.mu.Lock()
		defer w.mu.Unlock()
		return float64(len(w.running))
	})
	slots := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "mqcluster_worker_slots", ConstLabels: labels,
		Help: "Tasks the node runs at once.",
	}, func() float64 { return float64(w.opts.Slots) })
	m.registry.MustRegister(m.tasks, m.duration, m.messages, m.malformed, held, running, slots,
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) answered(kind string, status protocol.Status) {
	m.tasks.WithLabelValues(kind, statusName(status)).Inc()
}

func statusName(s protocol.Status) string {
	switch s {
	case protocol.StatusOK:
		return "ok"
	case protocol.StatusFailed:
		return "failed"
	case protocol.StatusDeclined:
		return "declined"
	}
	return "unknown"
}

// MetricsHandler serves the worker's metrics in the Prometheus text format.
func (w *Worker) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(w.metrics.registry, promhttp.HandlerOpts{})
}

package coordinator

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/mqcluster/mqcluster/api"
)

// metrics holds the coordinator's Prometheus registry. Latencies are
// observed as tasks move; counts and states are read from the coordinator
// at each scrape, so they cannot drift from what the API shows.
type metrics struct {
	registry        *prometheus.Registry
	dispatchLatency prometheus.Histogram
	runLatency      prometheus.Histogram
}

func newMetrics(c *Coordinator) *metrics {
	buckets := prometheus.ExponentialBuckets(0.0001, 2.5, 14) // 100 µs to about 15 min
	m := &metrics{
		registry: prometheus.NewRegistry(),
		dispatchLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "mqcluster_task_dispatch_seconds", Buckets: buckets,
			Help: "Time from a task entering the queue to its being sent to a node.",
		}),
		runLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "mqcluster_task_result_seconds", Buckets: buckets,
			Help: "Time from a task being sent to a node to its result being accepted.",
		}),
	}
	m.registry.MustRegister(m.dispatchLatency, m.runLatency, stateCollector{c},
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	return m
}

// MetricsHandler serves the coordinator's metrics in the Prometheus text format.
func (c *Coordinator) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(c.metrics.registry, promhttp.HandlerOpts{})
}

var (
	descTasks   = prometheus.NewDesc("mqcluster_tasks", "Tasks of the jobs in memory, by state.", []string{"state"}, nil)
	descJobs    = prometheus.NewDesc("mqcluster_jobs", "Jobs in memory, by state.", []string{"state"}, nil)
	descNodes   = prometheus.NewDesc("mqcluster_nodes", "Nodes seen, by state.", []string{"state"}, nil)
	descQueue   = prometheus.NewDesc("mqcluster_queue_depth", "Queued tasks, by kind.", []string{"kind"}, nil)
	descCounter = map[string]*prometheus.Desc{}
)

// counters maps each api.Stats counter to its metric name and help.
var counters = []struct {
	name, help string
	value      func(api.Stats) uint64
}{
	{"mqcluster_results_accepted_total", "Task results accepted.", func(s api.Stats) uint64 { return s.ResultsAccepted }},
	{"mqcluster_duplicates_dropped_total", "Results dropped because the task already had one, or redelivered.", func(s api.Stats) uint64 { return s.DuplicatesDropped }},
	{"mqcluster_foreign_results_total", "Results dropped because the sending node was not given that task.", func(s api.Stats) uint64 { return s.ForeignResults }},
	{"mqcluster_malformed_messages_total", "Messages dropped because they failed to decode or were too large.", func(s api.Stats) uint64 { return s.Malformed }},
	{"mqcluster_reassignments_total", "Tasks put back in the queue after a failure, a lost node or a missed deadline.", func(s api.Stats) uint64 { return s.Reassignments }},
	{"mqcluster_tasks_dispatched_total", "Task attempts sent to nodes.", func(s api.Stats) uint64 { return s.TasksDispatched }},
	{"mqcluster_task_messages_total", "Tasks messages published; fewer than tasks dispatched when batched.", func(s api.Stats) uint64 { return s.TaskMessages }},
	{"mqcluster_backups_total", "Backup copies of slow tasks started.", func(s api.Stats) uint64 { return s.Backups }},
	{"mqcluster_stale_presence_total", "Wills and births of older connections, ignored.", func(s api.Stats) uint64 { return s.StalePresence }},
	{"mqcluster_births_dropped_total", "Births over the rate or node limit, dropped.", func(s api.Stats) uint64 { return s.BirthsDropped }},
	{"mqcluster_id_conflicts_total", "Node ids found in use by more than one process.", func(s api.Stats) uint64 { return s.IDConflicts }},
}

func init() {
	for _, ct := range counters {
		descCounter[ct.name] = prometheus.NewDesc(ct.name, ct.help, nil, nil)
	}
}

// stateCollector reads the coordinator's state at scrape time.
type stateCollector struct{ c *Coordinator }

func (s stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descTasks
	ch <- descJobs
	ch <- descNodes
	ch <- descQueue
	for _, d := range descCounter {
		ch <- d
	}
}

func (s stateCollector) Collect(ch chan<- prometheus.Metric) {
	c := s.c
	c.mu.Lock()
	tasks, jobs, queued := map[string]int{}, map[string]int{}, map[string]int{}
	for _, j := range c.jobOrder {
		jobs[j.state()]++
		for state, n := range j.count {
			tasks[state] += n
		}
		if j.count[api.TaskQueued] > 0 {
			for _, t := range j.tasks {
				if t.state == api.TaskQueued {
					queued[t.kind]++
				}
			}
		}
	}
	stats := c.stats
	c.mu.Unlock()
	for _, state := range []string{api.TaskQueued, api.TaskRunning, api.TaskDone, api.TaskFailed, api.TaskCancelled} {
		ch <- prometheus.MustNewConstMetric(descTasks, prometheus.GaugeValue, float64(tasks[state]), state)
	}
	for _, state := range []string{api.JobQueued, api.JobRunning, api.JobDone, api.JobFailed, api.JobCancelled} {
		ch <- prometheus.MustNewConstMetric(descJobs, prometheus.GaugeValue, float64(jobs[state]), state)
	}
	nodes := map[string]int{}
	for _, n := range c.Nodes() {
		nodes[n.State]++
	}
	for _, state := range []string{api.NodeOnline, api.NodeDraining, api.NodeConflict, api.NodeOffline} {
		ch <- prometheus.MustNewConstMetric(descNodes, prometheus.GaugeValue, float64(nodes[state]), state)
	}
	for kind, n := range queued {
		ch <- prometheus.MustNewConstMetric(descQueue, prometheus.GaugeValue, float64(n), kind)
	}
	for _, ct := range counters {
		ch <- prometheus.MustNewConstMetric(descCounter[ct.name], prometheus.CounterValue, float64(ct.value(stats)))
	}
}

// observeDispatchLocked records how long t waited in the queue.
func (c *Coordinator) observeDispatchLocked(t *task, now time.Time) {
	if !t.queuedAt.IsZero() {
		c.metrics.dispatchLatency.Observe(now.Sub(t.queuedAt).Seconds())
	}
}

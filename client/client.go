// Package client is the Go client of the coordinator's HTTP API.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/mqcluster/mqcluster/api"
)

// DefaultServer is the default URL of the coordinator's HTTP API.
const DefaultServer = "http://127.0.0.1:8080"

// Client calls one coordinator.
type Client struct {
	base string
	http *http.Client
	// Token, if set, is sent as a bearer token, for a coordinator started
	// with an API token.
	Token string
}

// New returns a client of the coordinator at server, a URL such as
// http://127.0.0.1:8080 (a bare host:port means http). hc may be nil.
func New(server string, hc *http.Client) (*Client, error) {
	if server == "" {
		server = DefaultServer
	}
	full := server
	if !strings.Contains(full, "://") {
		full = "http://" + full
	}
	u, err := url.Parse(full)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("invalid server URL %q: use http://host:port", server)
	}
	if hc == nil {
		hc = &http.Client{}
	}
	return &Client{base: strings.TrimSuffix(u.String(), "/"), http: hc}, nil
}

// Submit sends a job and returns its initial status.
func (c *Client) Submit(ctx context.Context, spec api.JobSpec) (api.Job, error) {
	var job api.Job
	err := c.do(ctx, http.MethodPost, "/api/v1/jobs", spec, &job)
	return job, err
}

// Job returns the status of job id.
func (c *Client) Job(ctx context.Context, id string) (api.Job, error) {
	var job api.Job
	err := c.do(ctx, http.MethodGet, "/api/v1/jobs/"+url.PathEscape(id), nil, &job)
	return job, err
}

// WaitJob returns the status of job id once it ends, or after wait at the
// latest, whichever comes first. The coordinator rejects a wait over 5 minutes.
func (c *Client) WaitJob(ctx context.Context, id string, wait time.Duration) (api.Job, error) {
	var job api.Job
	path := "/api/v1/jobs/" + url.PathEscape(id) + "?wait=" + url.QueryEscape(wait.String())
	err := c.do(ctx, http.MethodGet, path, nil, &job)
	return job, err
}

// Cancel cancels job id and returns its status.
func (c *Client) Cancel(ctx context.Context, id string) (api.Job, error) {
	var job api.Job
	err := c.do(ctx, http.MethodPost, "/api/v1/jobs/"+url.PathEscape(id)+"/cancel", nil, &job)
	return job, err
}

// Jobs returns every job the coordinator has in memory.
func (c *Client) Jobs(ctx context.Context) ([]api.Job, error) {
	var jobs []api.Job
	err := c.do(ctx, http.MethodGet, "/api/v1/jobs", nil, &jobs)
	return jobs, err
}

// Results returns the outcome of every task of job id.
func (c *Client) Results(ctx context.Context, id string) (api.Results, error) {
	var res api.Results
	err := c.do(ctx, http.MethodGet, "/api/v1/jobs/"+url.PathEscape(id)+"/results", nil, &res)
	return res, err
}

// Nodes returns every node the coordinator has seen.
func (c *Client) Nodes(ctx context.Context) ([]api.Node, error) {
	var nodes []api.Node
	err := c.do(ctx, http.MethodGet, "/api/v1/nodes", nil, &nodes)
	return nodes, err
}

// Stats returns the coordinator's counters.
func (c *Client) Stats(ctx context.Context) (api.Stats, error) {
	var st api.Stats
	err := c.do(ctx, http.MethodGet, "/api/v1/stats", nil, &st)
	return st, err
}

// StatusError is an error response of the API.
type StatusError struct {
	Code    int    // HTTP status
	Message string // the server's message
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("coordinator: %s (HTTP %d)", e.Message, e.Code)
}

// IsNotFound reports whether err is a 404 from the API.
func IsNotFound(err error) bool {
	var se *StatusError
	return errors.As(err, &se) && se.Code == http.StatusNotFound
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // it repeats the method and URL
		}
		if errors.Is(err, syscall.ECONNREFUSED) {
			return fmt.Errorf("%s %s: %w (is the coordinator running? start one with `mqcluster up`)", method, c.base+path, err)
		}
		return fmt.Errorf("%s %s: %w", method, c.base+path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		var e api.Error
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(b))
		}
		return &StatusError{Code: resp.StatusCode, Message: e.Error}
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: invalid response: %w", method, c.base+path, err)
	}
	return nil
}

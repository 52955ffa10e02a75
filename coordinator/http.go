package coordinator

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/mqcluster/mqcluster/api"
	"github.com/mqcluster/mqcluster/dashboard"
)

// DefaultMaxUpload bounds the body of a job submission.
const DefaultMaxUpload = 1 << 30

// Handler returns the HTTP/JSON API of the coordinator, described in package api.
func (c *Coordinator) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/jobs", c.serveSubmit)
	mux.HandleFunc("GET /api/v1/jobs", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, c.Jobs())
	})
	mux.HandleFunc("GET /api/v1/jobs/{id}", c.serveJob)
	mux.HandleFunc("GET /api/v1/jobs/{id}/results", c.serveResults)
	mux.HandleFunc("POST /api/v1/jobs/{id}/cancel", func(w http.ResponseWriter, r *http.Request) {
		job, err := c.Cancel(r.PathValue("id"))
		writeResult(w, job, err)
	})
	mux.HandleFunc("GET /api/v1/nodes", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, c.Nodes())
	})
	mux.HandleFunc("GET /api/v1/stats", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, c.Stats())
	})
	mux.Handle("GET /metrics", c.MetricsHandler())
	mux.HandleFunc("GET /api/v1/events", c.serveEvents)
	mux.Handle("/", dashboard.Handler())
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Errorf("no API endpoint %s %s", r.Method, r.URL.Path))
	})
	if c.opts.APIToken == "" {
		return mux
	}
	return requireToken(mux, c.opts.APIToken)
}

// TokenCookie is the cookie in which the dashboard keeps the API token, so
// that its EventSource, which cannot set headers, sends it too. POST /login
// sets it, HttpOnly so that no script can read it.
const TokenCookie = "mqcluster_token"

// login checks the token of a dashboard's login form and sets TokenCookie.
func login(w http.ResponseWriter, r *http.Request, valid func(string) bool) {
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	token := r.PostFormValue("token")
	if !valid(token) {
		writeError(w, http.StatusUnauthorized, errors.New("wrong API token"))
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: TokenCookie, Value: url.QueryEscape(token), Path: "/",
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode,
	})
	w.WriteHeader(http.StatusNoContent)
}

// requireToken lets through the dashboard's own files, which hold no data,
// and requests that carry token as a bearer token or in TokenCookie.
func requireToken(h http.Handler, token string) http.Handler {
	want := sha256.Sum256([]byte(token))
	valid := func(got string) bool {
		// Comparing hashes takes the same time whatever the length of got.
		sum := sha256.Sum256([]byte(got))
		return subtle.ConstantTimeCompare(sum[:], want[:]) == 1
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/login" && r.Method == http.MethodPost {
			login(w, r, valid)
			return
		}
		if !strings.HasPrefix(r.URL.Path, "/api/") && r.URL.Path != "/metrics" {
			h.ServeHTTP(w, r)
			return
		}
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			if cookie, err := r.Cookie(TokenCookie); err == nil {
				got, err = url.QueryUnescape(cookie.Value)
				ok = err == nil
			}
		}
		if !ok || !valid(got) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="mqcluster"`)
			writeError(w, http.StatusUnauthorized, errors.New("missing or wrong API token: send the header "+
				"Authorization: Bearer TOKEN, with the token of the coordinator's --api-token-file or MQCLUSTER_API_TOKEN"))
			return
		}
		h.ServeHTTP(w, r)
	})
}

func (c *Coordinator) serveSubmit(w http.ResponseWriter, r *http.Request) {
	var spec api.JobSpec
	if err := decodeSpec(w, r, &spec, c.opts.MaxUpload); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Errorf("job spec is larger than the limit of %d bytes (the coordinator's --max-upload)", tooBig.Limit))
			return
		}
		writeError(w, http.StatusBadRequest, fmt.Errorf("invalid job spec JSON: %w", err))
		return
	}
	job, err := c.Submit(spec)
	switch {
	case errors.Is(err, ErrInvalidSpec):
		writeError(w, http.StatusBadRequest, err)
		return
	case err != nil:
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, http.StatusCreated, job)
}

// decodeSpec reads one JSON job spec and rejects unknown fields, so that a
// misspelt field such as "max_attempt" is an error, not a silent default.
func decodeSpec(w http.ResponseWriter, r *http.Request, spec *api.JobSpec, limit int64) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	dec.DisallowUnknownFields()
	if err := dec.Decode(spec); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("data after the job spec")
	}
	return nil
}

func (c *Coordinator) serveJob(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if wait := r.URL.Query().Get("wait"); wait != "" {
		d, err := time.ParseDuration(wait)
		if err != nil || d < 0 || d > 5*time.Minute {
			writeError(w, http.StatusBadRequest, fmt.Errorf("wait: %q is not a duration from 0s to 5m", wait))
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), d)
		defer cancel()
		job, err := c.WaitJob(ctx, id)
		writeResult(w, job, err)
		return
	}
	job, err := c.Job(id)
	writeResult(w, job, err)
}

func (c *Coordinator) serveResults(w http.ResponseWriter, r *http.Request) {
	res, err := c.Results(r.PathValue("id"))
	writeResult(w, res, err)
}

func writeResult(w http.ResponseWriter, v any, err error) {
	switch {
	case errors.Is(err, ErrNotFound):
		writeError(w, http.StatusNotFound, err)
	case err != nil:
		writeError(w, http.StatusInternalServerError, err)
	default:
		writeJSON(w, http.StatusOK, v)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, err error) {
	writeJSON(w, status, api.Error{Error: err.Error()})
}

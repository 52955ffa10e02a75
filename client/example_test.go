package client_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/mqcluster/mqcluster/api"
	"github.com/mqcluster/mqcluster/client"
)

// Submitting a job and reading its results, as in the README. It has no
// Output comment, so go test compiles it without running it.
func Example() {
	ctx := context.Background()
	c, err := client.New("http://coordinator.lan:8080", nil)
	if err != nil {
		log.Fatal(err)
	}
	job, err := c.Submit(ctx, api.JobSpec{Tasks: []api.TaskSpec{{Kind: "reverse", Payload: []byte("abc")}}})
	if err != nil {
		log.Fatal(err)
	}
	if job, err = c.WaitJob(ctx, job.ID, time.Minute); err != nil {
		log.Fatal(err)
	}
	res, err := c.Results(ctx, job.ID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s\n", res.Tasks[0].Output) // "cba"
}

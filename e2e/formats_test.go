package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mqcluster/mqcluster/cluster"
	"github.com/mqcluster/mqcluster/internal/testenv"
	imagejob "github.com/mqcluster/mqcluster/jobs/image"
)

// Every test image, through a cluster of in-process workers over the
// embedded broker, gives the same bytes as the one-process conversion, for
// both methods and every output format.
func TestEveryInputFormatThroughCluster(t *testing.T) {
	c, err := cluster.Start(context.Background(), cluster.Options{
		BrokerAddr: "127.0.0.1:0", APIAddr: "127.0.0.1:0", Workers: 3, Slots: 2, Logger: testenv.Logger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	tc := &testCluster{Cluster: c}
	startClient(t, tc)

	entries, err := os.ReadDir(imagesDir)
	if err != nil {
		t.Fatal(err)
	}
	ran := 0
	for _, e := range entries {
		ext := strings.ToLower(filepath.Ext(e.Name()))
		if ext != ".png" && ext != ".jpg" && ext != ".gif" {
			continue
		}
		in := filepath.Join(imagesDir, e.Name())
		for _, tt := range []struct {
			tile   int
			method imagejob.Method
			outExt string
		}{
			{7, imagejob.Luma, ".png"},
			{128, imagejob.Average, ".png"},
			{64, imagejob.Luma, ".jpg"},
			{50, imagejob.Luma, ".gif"},
		} {
			name := e.Name() + "/" + tt.method.String() + "/" + strings.TrimPrefix(tt.outExt, ".")
			t.Run(name, func(t *testing.T) {
				opts := imagejob.ConvertOptions{TileWidth: tt.tile, TileHeight: tt.tile, Method: tt.method}
				got, _ := convertOnCluster(t, tc, in, tt.outExt, opts)
				sameBytes(t, name, got, referenceOutput(t, in, tt.outExt, tt.tile, tt.tile, tt.method))
			})
			ran++
		}
	}
	if ran < 40 {
		t.Errorf("ran %d conversions; the test images are missing?", ran)
	}
}

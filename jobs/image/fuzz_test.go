package imagejob

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// addTaskSeeds adds real payloads that Split makes from test images at both
// depths with both methods, and a few broken ones.
func addTaskSeeds(f *testing.F) {
	for _, name := range []string{"rgb8.png", "rgba16.png", "pixel1x1.png"} {
		p := loadTestdata(f, name)
		for _, m := range []Method{Luma, Average} {
			tiles, err := Split(p, 5, 3, m)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(tiles[0].Payload)
			f.Add(tiles[len(tiles)-1].Payload)
		}
	}
	f.Add([]byte{})
	f.Add([]byte{8, 0, 0, 1, 0, 1})
	f.Add([]byte{16, 1, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{9, 0, 0, 1, 0, 1, 1, 2, 3})
}

func FuzzDecodeTask(f *testing.F) {
	addTaskSeeds(f)
	f.Fuzz(func(t *testing.T, payload []byte) {
		task, err := DecodeTask(payload)
		if err != nil {
			if !errors.Is(err, ErrInvalidTask) {
				t.Fatalf("error %v does not match ErrInvalidTask", err)
			}
			return
		}
		if got := EncodeTask(task); !bytes.Equal(got, payload) {
			t.Fatalf("EncodeTask(DecodeTask(p)) = % x, want % x", got, payload)
		}
	})
}

func FuzzProcess(f *testing.F) {
	addTaskSeeds(f)
	f.Fuzz(func(t *testing.T, payload []byte) {
		out, err := Process(payload)
		task, decodeErr := DecodeTask(payload)
		if (err == nil) != (decodeErr == nil) {
			t.Fatalf("Process error %v, DecodeTask error %v: want both or neither", err, decodeErr)
		}
		if err != nil {
			return
		}
		if len(out) != task.OutputSize() {
			t.Fatalf("output is %d bytes, want %d", len(out), task.OutputSize())
		}
		checkGrayWithinChannels(t, task, out)
	})
}

// checkGrayWithinChannels checks that each gray sample lies between the
// smallest and the largest of its pixel's R, G and B, which holds for both
// methods.
func checkGrayWithinChannels(t *testing.T, task TileTask, out []byte) {
	size := bytesPerSample(task.Depth)
	sample := func(b []byte) int {
		if size == 2 {
			return int(get16(b))
		}
		return int(b[0])
	}
	for i := 0; i < len(out); i += size {
		px := task.RGB[3*i:]
		r, g, b := sample(px), sample(px[size:]), sample(px[2*size:])
		if y := sample(out[i:]); y < min(r, g, b) || y > max(r, g, b) {
			t.Fatalf("%v pixel %d: gray %d is outside its channels %d, %d, %d", task.Method, i/size, y, r, g, b)
		}
	}
}

// FuzzLoad feeds arbitrary file contents to Load: it must return an error or
// pixels whose buffers match the size it reports, never panic, and never
// decode an image over the pixel limit. The seeds are the test images under
// 2 KB, since go test -fuzz minimizes every new interesting input, for up to
// a minute by default, and that is slow on larger ones.
func FuzzLoad(f *testing.F) {
	for _, name := range []string{"pixel1x1.png", "gray1.png", "palette_trns.png", "graya8.png", "gray.jpg", "transparent.gif"} {
		b, err := os.ReadFile(filepath.Join(testdataDir, name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	// Small limits keep each run short: a slow input makes the fuzzing
	// engine miss its deadline and report "context deadline exceeded".
	const limit = 1 << 12
	path := filepath.Join(f.TempDir(), "input")
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<16 {
			return
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		p, err := Load(path, limit)
		if err != nil {
			return
		}
		samples := p.Width * p.Height * bytesPerSample(p.Depth)
		if int64(p.Width)*int64(p.Height) > limit {
			t.Fatalf("decoded %dx%d, over the limit of %d pixels", p.Width, p.Height, limit)
		}
		if len(p.RGB) != 3*samples || (p.Alpha != nil && len(p.Alpha) != samples) {
			t.Fatalf("%dx%d depth %d: RGB %d bytes, alpha %d bytes", p.Width, p.Height, p.Depth, len(p.RGB), len(p.Alpha))
		}
	})
}

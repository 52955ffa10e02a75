package imagejob

import (
	"bufio"
	"fmt"
	"image"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

const testdataDir = "../../testdata/images"

// corpusFile describes one file in testdataDir and what decoding it gives.
type corpusFile struct {
	name          string
	decodedType   string // the %T of what image.Decode returns
	width, height int
	depth         int
	alpha         bool
	grayscale     bool
}

// corpus lists every image in testdataDir. README.md in that directory gives
// the command that made each file.
var corpus = []corpusFile{
	{"anim.gif", "*image.Paletted", 40, 30, 8, false, false},
	{"baseline.jpg", "*image.YCbCr", 67, 45, 8, false, false},
	{"camera.png", "*image.Gray", 512, 512, 8, false, true},
	{"chelsea.png", "*image.RGBA", 451, 300, 8, false, false},
	{"cmyk.jpg", "*image.CMYK", 67, 45, 8, false, false},
	{"coffee.png", "*image.RGBA", 600, 400, 8, false, false},
	{"gray.jpg", "*image.Gray", 67, 45, 8, false, true},
	{"gray1.png", "*image.Gray", 67, 45, 8, false, true},
	{"gray16.png", "*image.Gray16", 65, 49, 16, false, true},
	{"gray2.png", "*image.Gray", 59, 43, 8, false, true},
	{"gray4.png", "*image.Gray", 63, 47, 8, false, true},
	{"gray8.png", "*image.Gray", 71, 53, 8, false, true},
	{"graya16.png", "*image.NRGBA64", 51, 35, 16, true, true},
	{"graya8.png", "*image.NRGBA", 57, 39, 8, true, true},
	{"interlaced.png", "*image.RGBA", 67, 45, 8, false, false},
	{"palette.png", "*image.Paletted", 67, 45, 8, false, false},
	{"palette_gray.png", "*image.Paletted", 10, 10, 8, false, true},
	{"palette_trns.png", "*image.Paletted", 43, 29, 8, true, false},
	{"photo.gif", "*image.Paletted", 67, 45, 8, false, false},
	{"pixel1x1.png", "*image.RGBA", 1, 1, 8, false, false},
	{"progressive.jpg", "*image.YCbCr", 69, 47, 8, false, false},
	{"rgb16.png", "*image.RGBA64", 61, 41, 16, false, false},
	{"rgb8.png", "*image.RGBA", 67, 45, 8, false, false},
	{"rgba16.png", "*image.NRGBA64", 47, 33, 16, true, false},
	{"rgba8.png", "*image.NRGBA", 53, 37, 8, true, false},
	{"transparent.gif", "*image.Paletted", 45, 31, 8, true, false},
}

func testdataPath(name string) string {
	return filepath.Join(testdataDir, name)
}

func loadTestdata(t testing.TB, name string) *Pixels {
	t.Helper()
	p, err := Load(testdataPath(name), DefaultMaxPixels)
	if err != nil {
		t.Fatalf("Load(%s): %v", name, err)
	}
	return p
}

// decodeTestdata decodes a file with the standard library alone.
func decodeTestdata(t testing.TB, name string) image.Image {
	t.Helper()
	f, err := os.Open(testdataPath(name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, _, err := image.Decode(bufio.NewReader(f))
	if err != nil {
		t.Fatalf("decode %s: %v", name, err)
	}
	return img
}

func TestCorpusListsEveryFile(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join(testdataDir, "*"))
	if err != nil {
		t.Fatal(err)
	}
	var onDisk []string
	for _, path := range paths {
		if name := filepath.Base(path); name != "README.md" {
			onDisk = append(onDisk, name)
		}
	}
	var listed []string
	for _, c := range corpus {
		listed = append(listed, c.name)
	}
	slices.Sort(onDisk)
	slices.Sort(listed)
	if !slices.Equal(onDisk, listed) {
		t.Errorf("files in %s:\n%v\ncorpus table:\n%v", testdataDir, onDisk, listed)
	}
}

func TestCorpusDecodesAsListed(t *testing.T) {
	for _, c := range corpus {
		t.Run(c.name, func(t *testing.T) {
			if got := fmt.Sprintf("%T", decodeTestdata(t, c.name)); got != c.decodedType {
				t.Errorf("image.Decode returns %s, want %s", got, c.decodedType)
			}
			p := loadTestdata(t, c.name)
			if p.Width != c.width || p.Height != c.height {
				t.Errorf("size %dx%d, want %dx%d", p.Width, p.Height, c.width, c.height)
			}
			if p.Depth != c.depth {
				t.Errorf("Depth = %d, want %d", p.Depth, c.depth)
			}
			if got := p.Alpha != nil; got != c.alpha {
				t.Errorf("has alpha = %v, want %v", got, c.alpha)
			}
			if p.Grayscale != c.grayscale {
				t.Errorf("Grayscale = %v, want %v", p.Grayscale, c.grayscale)
			}
			if c.depth == 16 && !usesLowByte(p.RGB) {
				t.Errorf("every 16-bit sample is an 8-bit value times 257, so the file tests nothing beyond 8 bits")
			}
		})
	}
}

// usesLowByte reports whether some 16-bit sample in samples differs from
// the 8-bit value of its high byte widened to 16 bits.
func usesLowByte(samples []byte) bool {
	for i := 0; i+1 < len(samples); i += 2 {
		if samples[i] != samples[i+1] {
			return true
		}
	}
	return false
}

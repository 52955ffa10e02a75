package imagejob

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func decodeFile(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, _, err := image.Decode(bufio.NewReader(f))
	if err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	return img
}

func convertTestdata(t *testing.T, name string, m Method) *GrayPlane {
	t.Helper()
	g, err := ConvertLocal(loadTestdata(t, name), m)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// dirEntries returns the names in dir, to show that no temporary file is left.
func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestGrayPlaneImageTypes(t *testing.T) {
	samples8 := []byte{10, 20}
	samples16 := []byte{0x12, 0x34, 0xab, 0xcd}
	tests := []struct {
		name      string
		plane     GrayPlane
		wantType  string
		wantPixel color.Color // pixel (1, 0)
	}{
		{"depth 8", GrayPlane{Width: 2, Height: 1, Depth: 8, Gray: samples8},
			"*image.Gray", color.Gray{Y: 20}},
		{"depth 16", GrayPlane{Width: 2, Height: 1, Depth: 16, Gray: samples16},
			"*image.Gray16", color.Gray16{Y: 0xabcd}},
		{"depth 8 alpha", GrayPlane{Width: 2, Height: 1, Depth: 8, Gray: samples8, Alpha: []byte{0, 0x80}},
			"*image.NRGBA", color.NRGBA{R: 20, G: 20, B: 20, A: 0x80}},
		{"depth 16 alpha", GrayPlane{Width: 2, Height: 1, Depth: 16, Gray: samples16, Alpha: []byte{0, 0, 0x80, 0x01}},
			"*image.NRGBA64", color.NRGBA64{R: 0xabcd, G: 0xabcd, B: 0xabcd, A: 0x8001}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img := tt.plane.Image()
			if got := fmt.Sprintf("%T", img); got != tt.wantType {
				t.Fatalf("Image() is %s, want %s", got, tt.wantType)
			}
			if got := img.At(1, 0); got != tt.wantPixel {
				t.Errorf("pixel (1,0) = %#v, want %#v", got, tt.wantPixel)
			}
			if got := img.Bounds(); got != image.Rect(0, 0, 2, 1) {
				t.Errorf("bounds %v, want 2x1 at the origin", got)
			}
		})
	}
}

func TestSavedPNGKeepsAlpha(t *testing.T) {
	for _, name := range []string{"rgba8.png", "rgba16.png", "graya8.png", "graya16.png", "palette_trns.png", "transparent.gif"} {
		t.Run(name, func(t *testing.T) {
			p := loadTestdata(t, name)
			g, err := ConvertLocal(p, Luma)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "out.png")
			if err := Save(path, g.Image()); err != nil {
				t.Fatal(err)
			}
			saved := FromImage(decodeFile(t, path))
			if saved.Depth != p.Depth {
				t.Errorf("saved depth %d, want %d", saved.Depth, p.Depth)
			}
			if !bytes.Equal(saved.Alpha, p.Alpha) {
				t.Errorf("saved alpha differs from the source alpha")
			}
			// Each saved pixel is R = G = B = gray, so converting it again
			// returns the same gray samples.
			again, err := ConvertLocal(saved, Luma)
			if err != nil {
				t.Fatal(err)
			}
			if !saved.Grayscale || !bytes.Equal(again.Gray, g.Gray) {
				t.Errorf("saved colors are not the gray samples (grayscale %v)", saved.Grayscale)
			}
		})
	}
}

// TestTranslucentPixelGray checks that gray comes from unpremultiplied
// color: a translucent pure red gives the same gray as an opaque one, after
// a round trip through a PNG file.
func TestTranslucentPixelGray(t *testing.T) {
	premultiplied := image.NewRGBA(image.Rect(0, 0, 3, 1))
	premultiplied.SetRGBA(0, 0, color.RGBA{R: 0xff, A: 0xff})
	premultiplied.SetRGBA(1, 0, color.RGBA{R: 0x80, A: 0x80})
	premultiplied.SetRGBA(2, 0, color.RGBA{R: 0x01, A: 0x01})
	wide := image.NewNRGBA64(image.Rect(0, 0, 3, 1))
	wide.SetNRGBA64(0, 0, color.NRGBA64{R: 0xffff, A: 0xffff})
	wide.SetNRGBA64(1, 0, color.NRGBA64{R: 0xffff, A: 0x8000})
	wide.SetNRGBA64(2, 0, color.NRGBA64{R: 0xffff, A: 0x0001})

	tests := []struct {
		name string
		img  image.Image
		want map[Method][]byte
	}{
		{"8-bit", premultiplied, map[Method][]byte{
			Luma:    {76, 76, 76},
			Average: {85, 85, 85},
		}},
		{"16-bit", wide, map[Method][]byte{
			Luma:    {0x4c, 0x8b, 0x4c, 0x8b, 0x4c, 0x8b},
			Average: {0x55, 0x55, 0x55, 0x55, 0x55, 0x55},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "red.png")
			f, err := os.Create(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := png.Encode(f, tt.img); err != nil {
				t.Fatal(err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			p, err := Load(path, 0)
			if err != nil {
				t.Fatal(err)
			}
			for m, want := range tt.want {
				g, err := ConvertLocal(p, m)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(g.Gray, want) {
					t.Errorf("%v: gray % x, want % x", m, g.Gray, want)
				}
			}
		})
	}
}

func TestSixteenBitInputGivesSixteenBitPNG(t *testing.T) {
	for _, c := range corpus {
		if c.depth != 16 {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			g := convertTestdata(t, c.name, Luma)
			path := filepath.Join(t.TempDir(), "out.png")
			if err := Save(path, g.Image()); err != nil {
				t.Fatal(err)
			}
			saved := decodeFile(t, path)
			want := "*image.Gray16"
			if c.alpha {
				want = "*image.NRGBA64"
			}
			if got := fmt.Sprintf("%T", saved); got != want {
				t.Fatalf("saved PNG decodes as %s, want %s", got, want)
			}
			if gray, ok := saved.(*image.Gray16); ok && !bytes.Equal(gray.Pix, g.Gray) {
				t.Errorf("saved samples differ from the converted ones")
			}
			if !usesLowByte(g.Gray) {
				t.Errorf("every gray sample is a multiple of 257, so 8-bit output would pass too")
			}
		})
	}
}

// highBytes returns the high byte of each 16-bit sample, or samples itself at
// depth 8.
func highBytes(samples []byte, depth int) []byte {
	if depth == 8 {
		return samples
	}
	out := make([]byte, len(samples)/2)
	for i := range out {
		out[i] = samples[2*i]
	}
	return out
}

func TestSaveGIFStoresGrayExactly(t *testing.T) {
	for _, name := range []string{"rgb8.png", "rgba16.png", "gray16.png", "transparent.gif"} {
		t.Run(name, func(t *testing.T) {
			g := convertTestdata(t, name, Luma)
			path := filepath.Join(t.TempDir(), "out.gif")
			if err := Save(path, g.Image()); err != nil {
				t.Fatal(err)
			}
			saved := FromImage(decodeFile(t, path))
			if saved.Alpha != nil {
				t.Errorf("saved GIF has transparent pixels")
			}
			gray, err := ConvertLocal(saved, Luma)
			if err != nil {
				t.Fatal(err)
			}
			if !saved.Grayscale || !bytes.Equal(gray.Gray, highBytes(g.Gray, g.Depth)) {
				t.Errorf("saved GIF pixels are not the 8-bit gray samples")
			}
		})
	}
}

func TestSaveJPEGIsGray(t *testing.T) {
	for _, name := range []string{"out.jpg", "out.jpeg", "OUT.JPG"} {
		t.Run(name, func(t *testing.T) {
			g := convertTestdata(t, "rgba16.png", Luma)
			path := filepath.Join(t.TempDir(), name)
			if err := Save(path, g.Image()); err != nil {
				t.Fatal(err)
			}
			saved, ok := decodeFile(t, path).(*image.Gray)
			if !ok {
				t.Fatalf("saved JPEG does not decode as *image.Gray")
			}
			want := highBytes(g.Gray, g.Depth)
			var sum int
			for i, w := range want {
				v := saved.GrayAt(i%g.Width, i/g.Width).Y
				sum += max(int(v)-int(w), int(w)-int(v))
			}
			// The mean error measured 1.45 levels on this image when the
			// test was written. Writing the wrong channel gives tens.
			if mean := float64(sum) / float64(len(want)); mean > 2 {
				t.Errorf("mean absolute error %.2f levels, want at most 2", mean)
			}
		})
	}
}

func TestSaveWarnings(t *testing.T) {
	opaque8 := (&GrayPlane{Width: 1, Height: 1, Depth: 8, Gray: []byte{1}}).Image()
	alpha8 := (&GrayPlane{Width: 1, Height: 1, Depth: 8, Gray: []byte{1}, Alpha: []byte{0}}).Image()
	alpha16 := (&GrayPlane{Width: 1, Height: 1, Depth: 16, Gray: []byte{1, 2}, Alpha: []byte{0, 0}}).Image()
	const alphaWarning = "cannot store alpha, so the alpha channel is dropped"
	const depthWarning = "stores 8 bits per sample, so the 16-bit gray values are reduced to their high byte"
	tests := []struct {
		path string
		img  image.Image
		want []string
	}{
		{"out.png", alpha16, nil},
		{"out.jpg", opaque8, nil},
		{"out.jpg", alpha8, []string{"out.jpg: JPEG " + alphaWarning}},
		{"out.gif", alpha16, []string{"out.gif: GIF " + alphaWarning, "out.gif: GIF " + depthWarning}},
		{"out.bmp", alpha16, nil},
	}
	for _, tt := range tests {
		got := SaveWarnings(tt.path, tt.img)
		if len(got) != len(tt.want) {
			t.Errorf("SaveWarnings(%s, %T) = %q, want %d warnings", tt.path, tt.img, got, len(tt.want))
			continue
		}
		for i := range got {
			if !strings.HasPrefix(got[i], tt.want[i]) {
				t.Errorf("SaveWarnings(%s, %T)[%d] = %q, want prefix %q", tt.path, tt.img, i, got[i], tt.want[i])
			}
		}
	}
}

func TestCheckOutputPath(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file.png")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	dirNamedPNG := filepath.Join(dir, "folder.png")
	if err := os.Mkdir(dirNamedPNG, 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path    string
		wantErr string // empty for a valid path
	}{
		{filepath.Join(dir, "out.png"), ""},
		{filepath.Join(dir, "out.JPEG"), ""},
		{filepath.Join(dir, "out.gif"), ""},
		{file, ""},
		{filepath.Join(dir, "out.bmp"), `: unsupported output format ".bmp": use .png, .jpg, .jpeg or .gif`},
		{filepath.Join(dir, "out"), ": unsupported output format: the name has no extension, use .png, .jpg, .jpeg or .gif"},
		{filepath.Join(dir, "missing", "out.png"), ": directory " + filepath.Join(dir, "missing") + " does not exist, create it first"},
		{filepath.Join(file, "out.png"), ": " + file + " is not a directory"},
		{dirNamedPNG, ": is a directory, expected an image file name such as " + filepath.Join(dirNamedPNG, "out.png")},
		{dir, ": is a directory, expected an image file name such as " + filepath.Join(dir, "out.png")},
	}
	for _, tt := range tests {
		err := CheckOutputPath(tt.path)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("CheckOutputPath(%s): %v", tt.path, err)
		case tt.wantErr != "" && (err == nil || err.Error() != tt.path+tt.wantErr):
			t.Errorf("CheckOutputPath(%s) error = %v\nwant %s%s", tt.path, err, tt.path, tt.wantErr)
		}
	}
	if err := CheckOutputPath(filepath.Join(dir, "out.tiff")); !errors.Is(err, ErrUnsupportedFormat) {
		t.Errorf("error for .tiff does not match ErrUnsupportedFormat: %v", err)
	}
}

// writeOriginal creates path with known content for the atomicity tests.
func writeOriginal(t *testing.T, path string) []byte {
	t.Helper()
	original := []byte("original content")
	if err := os.WriteFile(path, original, 0o600); err != nil {
		t.Fatal(err)
	}
	return original
}

func checkUnchanged(t *testing.T, path string, original []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, original) {
		t.Errorf("%s now contains %q, want the original %q", path, got, original)
	}
	if names := dirEntries(t, filepath.Dir(path)); !slices.Equal(names, []string{filepath.Base(path)}) {
		t.Errorf("directory contains %v, want only %s", names, filepath.Base(path))
	}
}

func TestSaveEncoderFailureKeepsOldFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.gif")
	original := writeOriginal(t, path)
	// The GIF format stores sides below 65536, so the encoder fails.
	tooWide := image.NewGray(image.Rect(0, 0, 1<<16, 1))
	err := Save(path, tooWide)
	if err == nil || !strings.Contains(err.Error(), "encode GIF: gif: image is too large to encode") {
		t.Fatalf("Save error = %v, want the GIF encoder's error", err)
	}
	if !strings.HasPrefix(err.Error(), "save "+path+": ") {
		t.Errorf("error %q does not start with the path", err)
	}
	checkUnchanged(t, path, original)
}

func TestWriteFileAtomicPartialWriteKeepsOldFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.png")
	original := writeOriginal(t, path)
	failure := errors.New("disk on fire")
	// More than bufio's buffer, so part of the data reaches the temporary file.
	err := writeFileAtomic(path, func(w io.Writer) error {
		if _, err := w.Write(make([]byte, 10000)); err != nil {
			return err
		}
		return failure
	})
	if !errors.Is(err, failure) {
		t.Fatalf("error = %v, want the encoder's error", err)
	}
	checkUnchanged(t, path, original)
}

func TestSaveUnsupportedExtensionKeepsOldFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.bmp")
	original := writeOriginal(t, path)
	if err := Save(path, image.NewGray(image.Rect(0, 0, 1, 1))); !errors.Is(err, ErrUnsupportedFormat) {
		t.Fatalf("Save error = %v, want ErrUnsupportedFormat", err)
	}
	checkUnchanged(t, path, original)
}

func TestSaveReplacesFileAndKeepsMode(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.png")
	writeOriginal(t, path)
	img := (&GrayPlane{Width: 2, Height: 1, Depth: 8, Gray: []byte{3, 4}}).Image()
	if err := Save(path, img); err != nil {
		t.Fatal(err)
	}
	saved, ok := decodeFile(t, path).(*image.Gray)
	if !ok || !bytes.Equal(saved.Pix, []byte{3, 4}) {
		t.Errorf("saved file does not contain the new image")
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want the replaced file's 0600", info.Mode().Perm())
	}
	if names := dirEntries(t, dir); !slices.Equal(names, []string{"out.png"}) {
		t.Errorf("directory contains %v, want only out.png", names)
	}

	fresh := filepath.Join(dir, "new.png")
	if err := Save(fresh, img); err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(fresh); err != nil || info.Mode().Perm() != 0o644 {
		t.Errorf("new file: %v, mode %v, want 0644", err, info.Mode().Perm())
	}
}

func TestSaveThroughSymlinkKeepsLink(t *testing.T) {
	dir := t.TempDir()
	linked := filepath.Join(dir, "real.png")
	writeOriginal(t, linked)
	link := filepath.Join(dir, "link.png")
	if err := os.Symlink("real.png", link); err != nil {
		t.Fatal(err)
	}
	if err := Save(link, (&GrayPlane{Width: 1, Height: 1, Depth: 8, Gray: []byte{7}}).Image()); err != nil {
		t.Fatal(err)
	}
	info, err := os.Lstat(link)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode()&os.ModeSymlink == 0 {
		t.Errorf("link.png was replaced by a regular file")
	}
	if saved, ok := decodeFile(t, linked).(*image.Gray); !ok || saved.Pix[0] != 7 {
		t.Errorf("real.png does not contain the new image")
	}
}

func TestSaveGIFPalette(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.gif")
	if err := Save(path, (&GrayPlane{Width: 3, Height: 1, Depth: 8, Gray: []byte{0, 128, 255}}).Image()); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := gif.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	paletted, ok := img.(*image.Paletted)
	if !ok {
		t.Fatalf("GIF decodes as %T", img)
	}
	if len(paletted.Palette) != 256 {
		t.Errorf("palette has %d entries, want 256 gray levels", len(paletted.Palette))
	}
	if !bytes.Equal(paletted.Pix, []byte{0, 128, 255}) {
		t.Errorf("palette indices %v, want the gray levels 0, 128, 255", paletted.Pix)
	}
}

func TestSaveJPEGOneComponent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.jpg")
	img := (&GrayPlane{Width: 2, Height: 2, Depth: 8, Gray: []byte{1, 2, 3, 4}}).Image()
	if err := Save(path, img); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := jpeg.DecodeConfig(bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	// A baseline SOF0 segment: FF C0, length, precision, height, width, then
	// the number of components.
	sof := bytes.Index(data, []byte{0xff, 0xc0})
	if sof < 0 || len(data) < sof+10 {
		t.Fatalf("no SOF0 segment in the JPEG")
	}
	if components := data[sof+9]; components != 1 {
		t.Errorf("JPEG has %d components, want 1 (gray)", components)
	}

	// A DQT segment: FF DB, length, table id, then 64 entries. Go scales the
	// first luminance entry, 16, to 2 at quality 95 (3 at 90, 8 at 75).
	dqt := bytes.Index(data, []byte{0xff, 0xdb})
	if dqt < 0 || len(data) < dqt+6 {
		t.Fatalf("no DQT segment in the JPEG")
	}
	if first := data[dqt+5]; first != 2 {
		t.Errorf("first quantization entry %d, want 2 for quality 95", first)
	}
}

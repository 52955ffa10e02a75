package imagejob

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image/gif"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// pngHeaderOnly returns a PNG signature and an IHDR chunk that declares an
// 8-bit RGB image of the given size, with no pixel data after it.
func pngHeaderOnly(width, height uint32) []byte {
	ihdr := make([]byte, 0, 17)
	ihdr = append(ihdr, "IHDR"...)
	ihdr = binary.BigEndian.AppendUint32(ihdr, width)
	ihdr = binary.BigEndian.AppendUint32(ihdr, height)
	ihdr = append(ihdr, 8, 2, 0, 0, 0) // bit depth, color type RGB, compression, filter, interlace

	data := []byte("\x89PNG\r\n\x1a\n")
	data = binary.BigEndian.AppendUint32(data, uint32(len(ihdr)-4))
	data = append(data, ihdr...)
	return binary.BigEndian.AppendUint32(data, crc32.ChecksumIEEE(ihdr))
}

// gifHeaderOnly returns a GIF header whose logical screen is width x height,
// with no global color table and no frames.
func gifHeaderOnly(width, height uint16) []byte {
	data := []byte("GIF89a")
	data = binary.LittleEndian.AppendUint16(data, width)
	data = binary.LittleEndian.AppendUint16(data, height)
	return append(data, 0, 0, 0)
}

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(testdataPath(name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	rgb8 := readTestdata(t, "rgb8.png")
	corrupt := bytes.Clone(rgb8)
	corrupt[len(corrupt)/2] ^= 0xff // inside IDAT, so its checksum fails
	// SOF9 marks arithmetic coding, which Go's JPEG decoder does not support.
	arithmetic := bytes.Replace(readTestdata(t, "baseline.jpg"), []byte{0xff, 0xc0}, []byte{0xff, 0xc9}, 1)
	files := map[string][]byte{
		"empty.png":            {},
		"truncated.png":        rgb8[:len(rgb8)/2],
		"truncated header.png": rgb8[:20],
		"corrupt.png":          corrupt,
		"photo.txt":            []byte("not an image\n"),
		"huge.png":             pngHeaderOnly(100000, 100000),
		"zero.gif":             gifHeaderOnly(0, 7),
		"truncated.jpg":        readTestdata(t, "baseline.jpg")[:1000],
		"bad.bmp":              []byte("BM\x3a\x00\x00\x00"),
		"arithmetic.jpg":       arithmetic,
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	path := func(name string) string { return filepath.Join(dir, name) }

	tests := []struct {
		file     string
		limit    int64
		wantErr  string
		sentinel error
	}{
		{"empty.png", 0, "read " + path("empty.png") + ": file is empty", ErrNotImage},
		{"truncated.png", 0, "decode " + path("truncated.png") + ": truncated PNG data (png: invalid format: not enough pixel data), copy or export the file again", ErrInvalidImage},
		{"truncated header.png", 0, "decode " + path("truncated header.png") + ": truncated PNG data (unexpected EOF), copy or export the file again", io.ErrUnexpectedEOF},
		{"corrupt.png", 0, "decode " + path("corrupt.png") + ": invalid PNG data (png: invalid format: zlib: invalid checksum), copy or export the file again", ErrInvalidImage},
		{"truncated.jpg", 0, "decode " + path("truncated.jpg") + ": truncated JPEG data (invalid JPEG format: short Huffman data), copy or export the file again", ErrInvalidImage},
		{"arithmetic.jpg", 0, "decode " + path("arithmetic.jpg") + ": JPEG feature not supported by Go's decoder (unsupported JPEG feature: unknown marker), re-save the file as an 8-bit PNG or a baseline JPEG", ErrInvalidImage},
		{"photo.txt", 0, path("photo.txt") + ": not a supported image (PNG, JPEG or GIF)", ErrNotImage},
		{"bad.bmp", 0, path("bad.bmp") + ": not a supported image (PNG, JPEG or GIF)", ErrNotImage},
		{"huge.png", 0, path("huge.png") + ": 100000x100000 pixels is more than the limit of 100000000 (--max-pixels), raise the limit to convert it", ErrTooLarge},
		{"zero.gif", 0, path("zero.gif") + ": image is 0x7 pixels, expected at least 1x1", ErrInvalidImage},
		{"missing.png", 0, "open " + path("missing.png") + ": no such file or directory", fs.ErrNotExist},
		{"", 0, dir + ": is a directory, expected an image file", ErrNotImage},
		{"rgb8.png", -1, "invalid pixel limit -1: --max-pixels must be positive", nil},
	}
	for _, tt := range tests {
		name := tt.file
		switch {
		case tt.file == "":
			name = "directory"
		case tt.limit < 0:
			name = "negative limit"
		}
		t.Run(name, func(t *testing.T) {
			target := path(tt.file)
			if tt.file == "rgb8.png" {
				target = testdataPath(tt.file)
			}
			p, err := Load(target, tt.limit)
			if err == nil {
				t.Fatalf("Load succeeded with a %dx%d image", p.Width, p.Height)
			}
			if err.Error() != tt.wantErr {
				t.Errorf("error = %q\nwant      %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error has more than one line")
			}
			if tt.sentinel != nil && !errors.Is(err, tt.sentinel) {
				t.Errorf("error does not match %v", tt.sentinel)
			}
		})
	}
}

// TestLoadRejectsHugeHeaderBeforeDecoding uses a PNG that has a header and no
// pixel data: decoding it would fail with "unexpected EOF", so a size error
// shows that Load stopped after the header.
func TestLoadRejectsHugeHeaderBeforeDecoding(t *testing.T) {
	path := filepath.Join(t.TempDir(), "huge.png")
	if err := os.WriteFile(path, pngHeaderOnly(100000, 100000), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path, 0); !errors.Is(err, ErrTooLarge) {
		t.Errorf("default limit: error = %v, want ErrTooLarge", err)
	}
	_, err := Load(path, 100000*100000)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("limit equal to the size: error = %v, want the decoder's unexpected EOF", err)
	}
}

func TestLoadPixelLimitBoundary(t *testing.T) {
	path := testdataPath("rgb8.png") // 67x45 = 3015 pixels
	if _, err := Load(path, 3015); err != nil {
		t.Errorf("limit 3015: %v", err)
	}
	if _, err := Load(path, 3014); !errors.Is(err, ErrTooLarge) {
		t.Errorf("limit 3014: error = %v, want ErrTooLarge", err)
	}
}

func TestLoadGIFFirstFrame(t *testing.T) {
	f, err := os.Open(testdataPath("anim.gif"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	all, err := gif.DecodeAll(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(all.Image) != 2 {
		t.Fatalf("anim.gif has %d frames, want 2", len(all.Image))
	}
	first, second := FromImage(all.Image[0]), FromImage(all.Image[1])
	if bytes.Equal(first.RGB, second.RGB) {
		t.Fatalf("the frames of anim.gif are equal, so the test cannot tell them apart")
	}
	p := loadTestdata(t, "anim.gif")
	if !bytes.Equal(p.RGB, first.RGB) {
		t.Errorf("Load did not return the first frame")
	}
}

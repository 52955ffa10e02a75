package imagejob

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// syntheticPixels returns a width x height image whose samples follow a
// fixed pattern in which neighboring pixels differ.
func syntheticPixels(width, height, depth int) *Pixels {
	p := &Pixels{Width: width, Height: height, Depth: depth}
	p.RGB = make([]byte, width*height*3*bytesPerSample(depth))
	for i := range p.RGB {
		p.RGB[i] = byte(i*7 + i/251)
	}
	return p
}

type rect struct{ x, y, w, h int }

func tileRects(tiles []Tile) []rect {
	var rects []rect
	for _, t := range tiles {
		rects = append(rects, rect{t.X, t.Y, t.W, t.H})
	}
	return rects
}

func TestSplitGeometry(t *testing.T) {
	tests := []struct {
		name                  string
		width, height         int
		tileWidth, tileHeight int
		want                  []rect
	}{
		{"edge tiles smaller", 10, 7, 4, 3, []rect{
			{0, 0, 4, 3}, {4, 0, 4, 3}, {8, 0, 2, 3},
			{0, 3, 4, 3}, {4, 3, 4, 3}, {8, 3, 2, 3},
			{0, 6, 4, 1}, {4, 6, 4, 1}, {8, 6, 2, 1},
		}},
		{"exact multiple", 4, 4, 2, 2, []rect{{0, 0, 2, 2}, {2, 0, 2, 2}, {0, 2, 2, 2}, {2, 2, 2, 2}}},
		{"image smaller than tile", 3, 2, 64, 64, []rect{{0, 0, 3, 2}}},
		{"1x1 image", 1, 1, 7, 7, []rect{{0, 0, 1, 1}}},
		{"1x1 tiles", 2, 2, 1, 1, []rect{{0, 0, 1, 1}, {1, 0, 1, 1}, {0, 1, 1, 1}, {1, 1, 1, 1}}},
		{"one row of tall tiles", 5, 2, 2, 4096, []rect{{0, 0, 2, 2}, {2, 0, 2, 2}, {4, 0, 1, 2}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := syntheticPixels(tt.width, tt.height, 8)
			tiles, err := Split(p, tt.tileWidth, tt.tileHeight, Luma)
			if err != nil {
				t.Fatal(err)
			}
			if got := tileRects(tiles); fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("tiles %v\nwant  %v", got, tt.want)
			}
		})
	}
}

func TestSplitPayloadHoldsTilePixels(t *testing.T) {
	p := syntheticPixels(5, 4, 16)
	tiles, err := Split(p, 2, 3, Average)
	if err != nil {
		t.Fatal(err)
	}
	for _, tile := range tiles {
		task, err := DecodeTask(tile.Payload)
		if err != nil {
			t.Fatalf("%v: %v", tile, err)
		}
		if task.Depth != 16 || task.Method != Average || task.Width != tile.W || task.Height != tile.H {
			t.Errorf("%v: task header %d, %v, %dx%d", tile, task.Depth, task.Method, task.Width, task.Height)
		}
		for y := range tile.H {
			for x := range tile.W {
				src := p.RGB[((tile.Y+y)*p.Width+tile.X+x)*6:][:6]
				got := task.RGB[(y*tile.W+x)*6:][:6]
				if !bytes.Equal(got, src) {
					t.Fatalf("%v: pixel (%d,%d) is % x, want % x", tile, x, y, got, src)
				}
			}
		}
	}
}

func TestSplitRejectsBadArguments(t *testing.T) {
	p := syntheticPixels(3, 3, 8)
	tests := []struct {
		name                  string
		pixels                *Pixels
		tileWidth, tileHeight int
		method                Method
		wantErr               string
	}{
		{"zero width", p, 0, 4, Luma, "invalid tile size 0x4: --tile width and height must be 1 to 4096"},
		{"negative height", p, 4, -1, Luma, "invalid tile size 4x-1: --tile width and height must be 1 to 4096"},
		{"too wide", p, 4097, 1, Luma, "invalid tile size 4097x1: --tile width and height must be 1 to 4096"},
		{"method", p, 2, 2, 5, "invalid method 5: expected 0 (luma) or 1 (average)"},
		{"short RGB", &Pixels{Width: 2, Height: 1, Depth: 8, RGB: make([]byte, 5)}, 2, 2, Luma,
			"split image: RGB is 5 bytes, expected 6 for 2x1 pixels at depth 8"},
		{"depth", &Pixels{Width: 1, Height: 1, Depth: 10, RGB: make([]byte, 3)}, 2, 2, Luma,
			"split image: invalid pixel depth 10: expected 8 or 16"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Split(tt.pixels, tt.tileWidth, tt.tileHeight, tt.method)
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("error = %v\nwant    %s", err, tt.wantErr)
			}
		})
	}
	for _, size := range []int{1, MaxTileSide} {
		if _, err := Split(p, size, size, Luma); err != nil {
			t.Errorf("tile size %d: %v", size, err)
		}
	}
}

// processAll runs every tile's payload through Process as a worker would.
func processAll(t testing.TB, tiles []Tile) [][]byte {
	t.Helper()
	outputs := make([][]byte, len(tiles))
	for i, tile := range tiles {
		out, err := Process(tile.Payload)
		if err != nil {
			t.Fatalf("Process(%v): %v", tile, err)
		}
		outputs[i] = out
	}
	return outputs
}

func savedBytes(t testing.TB, name string, img image.Image) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := Save(path, img); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestTiledMatchesLocal is the end-to-end check of the job: for every test
// image, tile size and method, converting tile by tile and assembling writes
// the same PNG file as converting the whole image at once.
func TestTiledMatchesLocal(t *testing.T) {
	tileSizes := [][2]int{{1, 1}, {7, 7}, {5, 64}, {64, 64}, {128, 128}, {4096, 4096}}
	for _, c := range corpus {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			p := loadTestdata(t, c.name)
			for _, m := range []Method{Luma, Average} {
				local, err := ConvertLocal(p, m)
				if err != nil {
					t.Fatal(err)
				}
				localFile := savedBytes(t, "local.png", local.Image())
				for _, size := range tileSizes {
					// Single-pixel tiles take too long on the large photos.
					if size[0] == 1 && p.Width*p.Height > 5000 {
						continue
					}
					name := fmt.Sprintf("%v tile %dx%d", m, size[0], size[1])
					tiles, err := Split(p, size[0], size[1], m)
					if err != nil {
						t.Fatalf("%s: %v", name, err)
					}
					tiled, err := Assemble(p, tiles, processAll(t, tiles))
					if err != nil {
						t.Fatalf("%s: %v", name, err)
					}
					if !bytes.Equal(tiled.Gray, local.Gray) {
						t.Errorf("%s: tiled gray samples differ from ConvertLocal", name)
					}
					if !bytes.Equal(savedBytes(t, "tiled.png", tiled.Image()), localFile) {
						t.Errorf("%s: tiled PNG file differs from ConvertLocal's", name)
					}
				}
			}
		})
	}
}

// TestConvertLocalMatchesStandardLibrary compares ConvertLocal with a
// conversion that uses only the standard library's decoders and color
// models, so a mistake in FromImage or the kernels shows up.
func TestConvertLocalMatchesStandardLibrary(t *testing.T) {
	for _, c := range corpus {
		t.Run(c.name, func(t *testing.T) {
			img := decodeTestdata(t, c.name)
			p := loadTestdata(t, c.name)
			luma, err := ConvertLocal(p, Luma)
			if err != nil {
				t.Fatal(err)
			}
			average, err := ConvertLocal(p, Average)
			if err != nil {
				t.Fatal(err)
			}
			wantLuma, wantAverage := standardGray(img, c.depth)
			if !bytes.Equal(luma.Gray, wantLuma) {
				t.Errorf("luma differs from color.GrayModel on unpremultiplied color")
			}
			if !bytes.Equal(average.Gray, wantAverage) {
				t.Errorf("average differs from (R+G+B)/3 on unpremultiplied color")
			}
		})
	}
}

// standardGray converts img with color.GrayModel or color.Gray16Model
// applied to each pixel's unpremultiplied color made opaque, and with the
// plain average of the same color.
func standardGray(img image.Image, depth int) (luma, average []byte) {
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if depth == 16 {
				c := color.NRGBA64Model.Convert(img.At(x, y)).(color.NRGBA64)
				c.A = 0xffff
				l := color.Gray16Model.Convert(c).(color.Gray16).Y
				a := uint16((uint32(c.R) + uint32(c.G) + uint32(c.B)) / 3)
				luma = append(luma, byte(l>>8), byte(l))
				average = append(average, byte(a>>8), byte(a))
			} else {
				c := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
				c.A = 0xff
				luma = append(luma, color.GrayModel.Convert(c).(color.Gray).Y)
				average = append(average, byte((int(c.R)+int(c.G)+int(c.B))/3))
			}
		}
	}
	return luma, average
}

func TestAssembleAcceptsAnyTileOrder(t *testing.T) {
	p := syntheticPixels(11, 9, 16)
	p.Alpha = make([]byte, 11*9*2)
	tiles, err := Split(p, 4, 2, Luma)
	if err != nil {
		t.Fatal(err)
	}
	outputs := processAll(t, tiles)
	rand.New(rand.NewPCG(9, 10)).Shuffle(len(tiles), func(i, j int) {
		tiles[i], tiles[j] = tiles[j], tiles[i]
		outputs[i], outputs[j] = outputs[j], outputs[i]
	})
	got, err := Assemble(p, tiles, outputs)
	if err != nil {
		t.Fatal(err)
	}
	want, err := ConvertLocal(p, Luma)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Gray, want.Gray) {
		t.Errorf("shuffled tiles give different gray samples")
	}
	if got.Depth != 16 || got.Width != 11 || got.Height != 9 || !bytes.Equal(got.Alpha, p.Alpha) {
		t.Errorf("plane %dx%d depth %d, alpha kept %v", got.Width, got.Height, got.Depth, bytes.Equal(got.Alpha, p.Alpha))
	}
}

func TestAssembleErrors(t *testing.T) {
	p := syntheticPixels(5, 4, 8)
	tiles, err := Split(p, 3, 2, Luma)
	if err != nil {
		t.Fatal(err)
	}
	// tiles: 3x2 at (0,0), 2x2 at (3,0), 3x2 at (0,2), 2x2 at (3,2)
	outputs := processAll(t, tiles)

	withOutput := func(i int, out []byte) [][]byte {
		changed := append([][]byte(nil), outputs...)
		changed[i] = out
		return changed
	}
	withTile := func(i int, tile Tile) []Tile {
		changed := append([]Tile(nil), tiles...)
		changed[i] = tile
		return changed
	}
	tests := []struct {
		name    string
		tiles   []Tile
		outputs [][]byte
		wantErr string
	}{
		{"output too short", tiles, withOutput(1, make([]byte, 3)),
			"assemble image: tile 2x2 at (3,0): output is 3 bytes, expected 4 for 2x2 samples at depth 8"},
		{"output missing", tiles, withOutput(2, nil),
			"assemble image: tile 3x2 at (0,2): output is 0 bytes, expected 6 for 3x2 samples at depth 8"},
		{"fewer outputs", tiles, outputs[:3],
			"assemble image: got 3 outputs for 4 tiles, expected one output per tile"},
		{"tile missing", tiles[:3], outputs[:3],
			"assemble image: pixel (3,2) is in no tile, the tile list is incomplete"},
		{"tile twice", withTile(3, tiles[0]), withOutput(3, outputs[0]),
			"assemble image: tile 3x2 at (0,0) overlaps another tile at pixel (0,0)"},
		{"tile outside", withTile(3, Tile{X: 4, Y: 2, W: 2, H: 2}), outputs,
			"assemble image: tile 2x2 at (4,2) is empty or not inside the 5x4 image"},
		{"negative position", withTile(0, Tile{X: -1, Y: 0, W: 3, H: 2}), outputs,
			"assemble image: tile 3x2 at (-1,0) is empty or not inside the 5x4 image"},
		{"empty tile", withTile(0, Tile{X: 0, Y: 0, W: 0, H: 2}), outputs,
			"assemble image: tile 0x2 at (0,0) is empty or not inside the 5x4 image"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Assemble(p, tt.tiles, tt.outputs)
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("error = %v\nwant    %s", err, tt.wantErr)
			}
		})
	}
}

func TestConvertLocalRejectsBadArguments(t *testing.T) {
	if _, err := ConvertLocal(syntheticPixels(2, 2, 8), 9); err == nil || !strings.Contains(err.Error(), "invalid method 9") {
		t.Errorf("method 9: error = %v", err)
	}
	bad := &Pixels{Width: 2, Height: 2, Depth: 8, RGB: make([]byte, 12), Alpha: make([]byte, 3)}
	if _, err := ConvertLocal(bad, Luma); err == nil || !strings.Contains(err.Error(), "alpha is 3 bytes, expected 4") {
		t.Errorf("short alpha: error = %v", err)
	}
}

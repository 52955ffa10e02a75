package imagejob

import (
	"fmt"
	"math/bits"
)

// MaxTileSide is the largest tile width or height that Split accepts. The wire
// format could carry 65535, but a 4096x4096 tile at depth 16 is already a
// 96 MiB payload.
const MaxTileSide = 4096

// Tile is one rectangle of an image and the task payload that converts it.
type Tile struct {
	// X, Y is the top-left pixel of the tile in the image, W, H its size.
	X, Y, W, H int
	// Payload is the encoded TileTask.
	Payload []byte
}

// String names the tile in error messages.
func (t Tile) String() string {
	return fmt.Sprintf("tile %dx%d at (%d,%d)", t.W, t.H, t.X, t.Y)
}

// Split cuts p into tiles of tileW x tileH pixels in row-major order and
// encodes each one as a task that converts it with method. Tiles in the last
// column and row are narrower or shorter when the image size is not a
// multiple of the tile size, and an image smaller than one tile gives a single
// tile of the image's size.
func Split(p *Pixels, tileW, tileH int, method Method) ([]Tile, error) {
	if err := checkTileSize(tileW, tileH); err != nil {
		return nil, err
	}
	if !method.valid() {
		return nil, fmt.Errorf("invalid method %d: expected 0 (luma) or 1 (average)", uint8(method))
	}
	if err := p.validate(); err != nil {
		return nil, fmt.Errorf("split image: %w", err)
	}
	columns := (p.Width + tileW - 1) / tileW
	rows := (p.Height + tileH - 1) / tileH
	tiles := make([]Tile, 0, columns*rows)
	for y := 0; y < p.Height; y += tileH {
		for x := 0; x < p.Width; x += tileW {
			t := Tile{X: x, Y: y, W: min(tileW, p.Width-x), H: min(tileH, p.Height-y)}
			t.Payload = EncodeTask(TileTask{
				Depth:  p.Depth,
				Method: method,
				Width:  t.W,
				Height: t.H,
				RGB:    copyRect(p.RGB, 3*bytesPerSample(p.Depth), p.Width, t),
			})
			tiles = append(tiles, t)
		}
	}
	return tiles, nil
}

func checkTileSize(tileW, tileH int) error {
	if tileW < 1 || tileW > MaxTileSide || tileH < 1 || tileH > MaxTileSide {
		return fmt.Errorf("invalid tile size %dx%d: --tile width and height must be 1 to %d",
			tileW, tileH, MaxTileSide)
	}
	return nil
}

// copyRect returns the rows of rectangle t from plane, an image width pixels
// wide with pixelSize bytes per pixel.
func copyRect(plane []byte, pixelSize, width int, t Tile) []byte {
	rowSize := t.W * pixelSize
	out := make([]byte, 0, rowSize*t.H)
	for y := t.Y; y < t.Y+t.H; y++ {
		start := (y*width + t.X) * pixelSize
		out = append(out, plane[start:start+rowSize]...)
	}
	return out
}

// GrayPlane is a converted image: one gray sample per pixel and the source
// image's alpha.
type GrayPlane struct {
	Width, Height int
	// Depth is the number of bits per sample, 8 or 16, the same as the
	// source's.
	Depth int
	// Gray contains 1 sample per pixel in row-major order, 1 byte each at
	// depth 8 and 2 bytes big-endian at depth 16.
	Gray []byte
	// Alpha is the source's Pixels.Alpha, shared and not copied, or nil when
	// every pixel is opaque.
	Alpha []byte
}

// ConvertLocal converts all of p in this process with the same kernel that
// workers run, as a reference for the tiled result.
func ConvertLocal(p *Pixels, method Method) (*GrayPlane, error) {
	if err := p.validate(); err != nil {
		return nil, fmt.Errorf("convert image: %w", err)
	}
	g := newGrayPlane(p)
	if err := GrayTile(method, p.Depth, p.RGB, g.Gray); err != nil {
		return nil, fmt.Errorf("convert image: %w", err)
	}
	return g, nil
}

func newGrayPlane(p *Pixels) *GrayPlane {
	return &GrayPlane{
		Width:  p.Width,
		Height: p.Height,
		Depth:  p.Depth,
		Gray:   make([]byte, p.Width*p.Height*bytesPerSample(p.Depth)),
		Alpha:  p.Alpha,
	}
}

// Assemble builds the converted image of p from the workers' results:
// outputs[i] is the result of tiles[i]. The tiles may come in any order, but
// together they must cover every pixel of p exactly once, and each output
// must have the length that its tile requires. Errors name the tile.
func Assemble(p *Pixels, tiles []Tile, outputs [][]byte) (*GrayPlane, error) {
	if err := p.validate(); err != nil {
		return nil, fmt.Errorf("assemble image: %w", err)
	}
	if len(outputs) != len(tiles) {
		return nil, fmt.Errorf("assemble image: got %d outputs for %d tiles, expected one output per tile",
			len(outputs), len(tiles))
	}
	g := newGrayPlane(p)
	covered := newBitmap(p.Width * p.Height)
	sampleSize := bytesPerSample(p.Depth)
	for i, t := range tiles {
		if err := checkTileBounds(t, p); err != nil {
			return nil, err
		}
		want := t.W * t.H * sampleSize
		if len(outputs[i]) != want {
			return nil, fmt.Errorf("assemble image: %s: output is %d bytes, expected %d for %dx%d samples at depth %d",
				t, len(outputs[i]), want, t.W, t.H, p.Depth)
		}
		if err := covered.markRect(t, p.Width); err != nil {
			return nil, err
		}
		pasteRect(g.Gray, sampleSize, p.Width, t, outputs[i])
	}
	if x, y, ok := covered.firstClear(p.Width); ok {
		return nil, fmt.Errorf("assemble image: pixel (%d,%d) is in no tile, the tile list is incomplete", x, y)
	}
	return g, nil
}

func checkTileBounds(t Tile, p *Pixels) error {
	if t.W < 1 || t.H < 1 || t.X < 0 || t.Y < 0 || t.X > p.Width-t.W || t.Y > p.Height-t.H {
		return fmt.Errorf("assemble image: %s is empty or not inside the %dx%d image", t, p.Width, p.Height)
	}
	return nil
}

// pasteRect copies src, the rows of rectangle t, into plane, an image width
// pixels wide with pixelSize bytes per pixel.
func pasteRect(plane []byte, pixelSize, width int, t Tile, src []byte) {
	rowSize := t.W * pixelSize
	for row := range t.H {
		start := ((t.Y+row)*width + t.X) * pixelSize
		copy(plane[start:start+rowSize], src[row*rowSize:(row+1)*rowSize])
	}
}

// bitmap records which of n pixels have received a tile's output, one bit
// each.
type bitmap struct {
	words []uint64
	n     int
}

func newBitmap(n int) *bitmap {
	return &bitmap{words: make([]uint64, (n+63)/64), n: n}
}

// markRect sets the bits of t's pixels and returns an error if one was set
// already.
func (b *bitmap) markRect(t Tile, width int) error {
	for y := t.Y; y < t.Y+t.H; y++ {
		for x := t.X; x < t.X+t.W; x++ {
			i := y*width + x
			word, mask := i/64, uint64(1)<<(i%64)
			if b.words[word]&mask != 0 {
				return fmt.Errorf("assemble image: %s overlaps another tile at pixel (%d,%d)", t, x, y)
			}
			b.words[word] |= mask
		}
	}
	return nil
}

// firstClear returns the first pixel, in row-major order, whose bit is not
// set, in an image width pixels wide.
func (b *bitmap) firstClear(width int) (x, y int, ok bool) {
	for word, v := range b.words {
		if v == ^uint64(0) {
			continue
		}
		i := word*64 + bits.TrailingZeros64(^v)
		if i >= b.n {
			// The bits past n in the last word are never set.
			return 0, 0, false
		}
		return i % width, i / width, true
	}
	return 0, 0, false
}

package imagejob

import (
	"fmt"
	"image"
	"image/color"
)

// Pixels is a decoded image normalized to unpremultiplied RGB samples and an
// optional alpha plane, the form that Split cuts into tiles.
type Pixels struct {
	Width, Height int

	// Depth is the number of bits per sample: 16 when the decoded image is
	// *image.Gray16, *image.RGBA64 or *image.NRGBA64 (a 16-bit PNG), else 8.
	Depth int

	// RGB contains 3 samples per pixel in row-major order. A sample is 1 byte
	// at depth 8 and 2 bytes big-endian at depth 16.
	RGB []byte

	// Alpha contains 1 sample per pixel in the same layout as RGB, or is nil
	// when every pixel is opaque.
	Alpha []byte

	// Grayscale is true when every pixel has R == G == B, as in a gray PNG or
	// JPEG. Both methods then return each pixel's value unchanged.
	Grayscale bool
}

// FromImage converts img to Pixels. Each pixel goes through
// color.NRGBA64Model at depth 16 and color.NRGBAModel at depth 8, so
// premultiplied sources are unpremultiplied and YCbCr, CMYK and palette
// colors become RGB. The decoders' own NRGBA and palette types pass through
// without loss.
func FromImage(img image.Image) *Pixels {
	b := img.Bounds()
	p := &Pixels{Width: b.Dx(), Height: b.Dy(), Depth: depthOf(img)}
	if p.Depth == 16 {
		fill16(p, img)
	} else {
		fill8(p, img)
	}
	return p
}

func depthOf(img image.Image) int {
	switch img.(type) {
	case *image.Gray16, *image.RGBA64, *image.NRGBA64:
		return 16
	}
	return 8
}

// bytesPerSample returns 1 or 2 for depth 8 or 16.
func bytesPerSample(depth int) int {
	return depth / 8
}

func fill8(p *Pixels, img image.Image) {
	at := nrgbaReader(img)
	b := img.Bounds()
	n := p.Width * p.Height
	p.RGB = make([]byte, 3*n)
	alpha := make([]byte, n)
	opaque, gray := true, true
	i := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := at(x, y)
			p.RGB[3*i], p.RGB[3*i+1], p.RGB[3*i+2] = c.R, c.G, c.B
			alpha[i] = c.A
			opaque = opaque && c.A == 0xff
			gray = gray && c.R == c.G && c.G == c.B
			i++
		}
	}
	if !opaque {
		p.Alpha = alpha
	}
	p.Grayscale = gray
}

func fill16(p *Pixels, img image.Image) {
	at := nrgba64Reader(img)
	b := img.Bounds()
	n := p.Width * p.Height
	p.RGB = make([]byte, 6*n)
	alpha := make([]byte, 2*n)
	opaque, gray := true, true
	i := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := at(x, y)
			put16(p.RGB[6*i:], c.R)
			put16(p.RGB[6*i+2:], c.G)
			put16(p.RGB[6*i+4:], c.B)
			put16(alpha[2*i:], c.A)
			opaque = opaque && c.A == 0xffff
			gray = gray && c.R == c.G && c.G == c.B
			i++
		}
	}
	if !opaque {
		p.Alpha = alpha
	}
	p.Grayscale = gray
}

func put16(b []byte, v uint16) {
	b[0], b[1] = byte(v>>8), byte(v)
}

func get16(b []byte) uint16 {
	return uint16(b[0])<<8 | uint16(b[1])
}

// nrgbaReader returns a function that yields the same value as
// color.NRGBAModel.Convert(img.At(x, y)). The cases for the types that the
// PNG, JPEG and GIF decoders return skip the per-pixel interface conversion.
func nrgbaReader(img image.Image) func(x, y int) color.NRGBA {
	switch src := img.(type) {
	case *image.NRGBA:
		return src.NRGBAAt
	case *image.RGBA:
		return func(x, y int) color.NRGBA {
			c := src.RGBAAt(x, y)
			if c.A == 0xff {
				return color.NRGBA{R: c.R, G: c.G, B: c.B, A: 0xff}
			}
			return color.NRGBAModel.Convert(c).(color.NRGBA)
		}
	case *image.Gray:
		return func(x, y int) color.NRGBA {
			v := src.GrayAt(x, y).Y
			return color.NRGBA{R: v, G: v, B: v, A: 0xff}
		}
	case *image.YCbCr:
		return func(x, y int) color.NRGBA {
			r, g, b, _ := src.YCbCrAt(x, y).RGBA()
			return color.NRGBA{R: uint8(r >> 8), G: uint8(g >> 8), B: uint8(b >> 8), A: 0xff}
		}
	case *image.Paletted:
		table := paletteTable(src.Palette)
		return func(x, y int) color.NRGBA {
			return table[src.ColorIndexAt(x, y)]
		}
	}
	return func(x, y int) color.NRGBA {
		return color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
	}
}

// paletteTable converts each palette entry once. Indices past the end of the
// palette read as opaque black, the color that Go's PNG decoder gives them.
func paletteTable(palette color.Palette) *[256]color.NRGBA {
	var table [256]color.NRGBA
	for i := range table {
		table[i] = color.NRGBA{A: 0xff}
	}
	for i, c := range palette {
		if i == len(table) {
			break
		}
		table[i] = color.NRGBAModel.Convert(c).(color.NRGBA)
	}
	return &table
}

// nrgba64Reader is nrgbaReader for depth 16 and color.NRGBA64Model.
func nrgba64Reader(img image.Image) func(x, y int) color.NRGBA64 {
	switch src := img.(type) {
	case *image.NRGBA64:
		return src.NRGBA64At
	case *image.RGBA64:
		return func(x, y int) color.NRGBA64 {
			c := src.RGBA64At(x, y)
			if c.A == 0xffff {
				return color.NRGBA64{R: c.R, G: c.G, B: c.B, A: 0xffff}
			}
			return color.NRGBA64Model.Convert(c).(color.NRGBA64)
		}
	case *image.Gray16:
		return func(x, y int) color.NRGBA64 {
			v := src.Gray16At(x, y).Y
			return color.NRGBA64{R: v, G: v, B: v, A: 0xffff}
		}
	}
	return func(x, y int) color.NRGBA64 {
		return color.NRGBA64Model.Convert(img.At(x, y)).(color.NRGBA64)
	}
}

// validate returns an error naming the first field of p that is invalid or
// inconsistent with the others.
func (p *Pixels) validate() error {
	if p.Depth != 8 && p.Depth != 16 {
		return fmt.Errorf("invalid pixel depth %d: expected 8 or 16", p.Depth)
	}
	if p.Width < 1 || p.Height < 1 {
		return fmt.Errorf("invalid image size %dx%d: expected at least 1x1", p.Width, p.Height)
	}
	samples := p.Width * p.Height * bytesPerSample(p.Depth)
	if len(p.RGB) != 3*samples {
		return fmt.Errorf("RGB is %d bytes, expected %d for %dx%d pixels at depth %d",
			len(p.RGB), 3*samples, p.Width, p.Height, p.Depth)
	}
	if p.Alpha != nil && len(p.Alpha) != samples {
		return fmt.Errorf("alpha is %d bytes, expected %d for %dx%d pixels at depth %d",
			len(p.Alpha), samples, p.Width, p.Height, p.Depth)
	}
	return nil
}

package imagejob

import (
	"bytes"
	"image"
	"image/color"
	"math/rand/v2"
	"testing"
)

// referencePixels converts img pixel by pixel through the color model, the
// conversion that FromImage documents, without any of its shortcuts.
func referencePixels(img image.Image, depth int) (rgb, alpha []byte) {
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if depth == 16 {
				c := color.NRGBA64Model.Convert(img.At(x, y)).(color.NRGBA64)
				for _, v := range []uint16{c.R, c.G, c.B} {
					rgb = append(rgb, byte(v>>8), byte(v))
				}
				alpha = append(alpha, byte(c.A>>8), byte(c.A))
			} else {
				c := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
				rgb = append(rgb, c.R, c.G, c.B)
				alpha = append(alpha, c.A)
			}
		}
	}
	return rgb, alpha
}

func randomBytes(rng *rand.Rand, b []byte) {
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
}

// randomPremultiplied fills pix, 4 samples per pixel of sampleSize bytes,
// with valid premultiplied colors: every channel at most alpha. A quarter of
// the pixels are opaque.
func randomPremultiplied(rng *rand.Rand, pix []byte, sampleSize int) {
	maxValue := uint32(1)<<(8*sampleSize) - 1
	for i := 0; i < len(pix); i += 4 * sampleSize {
		a := maxValue
		if rng.IntN(4) != 0 {
			a = rng.Uint32N(maxValue + 1)
		}
		for channel, v := range []uint32{rng.Uint32N(a + 1), rng.Uint32N(a + 1), rng.Uint32N(a + 1), a} {
			at := pix[i+channel*sampleSize:]
			if sampleSize == 2 {
				at[0], at[1] = byte(v>>8), byte(v)
			} else {
				at[0] = byte(v)
			}
		}
	}
}

func randomPalette(rng *rand.Rand, n int) color.Palette {
	palette := make(color.Palette, n)
	for i := range palette {
		r, g, b := uint8(rng.Uint32()), uint8(rng.Uint32()), uint8(rng.Uint32())
		if i%2 == 0 {
			palette[i] = color.NRGBA{R: r, G: g, B: b, A: uint8(rng.Uint32())}
		} else {
			palette[i] = color.RGBA{R: r / 2, G: g / 2, B: b / 2, A: 0x80}
		}
	}
	return palette
}

// testImages returns a random image of every type that FromImage treats
// specially, and of some it does not, keyed by a name for the subtest.
func testImages() map[string]image.Image {
	rng := rand.New(rand.NewPCG(1, 2))
	rect := image.Rect(0, 0, 37, 23)
	images := map[string]image.Image{}

	nrgba := image.NewNRGBA(rect)
	randomBytes(rng, nrgba.Pix)
	images["NRGBA"] = nrgba

	rgba := image.NewRGBA(rect)
	randomPremultiplied(rng, rgba.Pix, 1)
	images["RGBA"] = rgba

	gray := image.NewGray(rect)
	randomBytes(rng, gray.Pix)
	images["Gray"] = gray

	for name, ratio := range map[string]image.YCbCrSubsampleRatio{
		"444": image.YCbCrSubsampleRatio444, "422": image.YCbCrSubsampleRatio422,
		"420": image.YCbCrSubsampleRatio420, "440": image.YCbCrSubsampleRatio440,
		"411": image.YCbCrSubsampleRatio411, "410": image.YCbCrSubsampleRatio410,
	} {
		ycbcr := image.NewYCbCr(rect, ratio)
		randomBytes(rng, ycbcr.Y)
		randomBytes(rng, ycbcr.Cb)
		randomBytes(rng, ycbcr.Cr)
		images["YCbCr"+name] = ycbcr
	}

	paletted := image.NewPaletted(rect, randomPalette(rng, 200))
	for i := range paletted.Pix {
		paletted.Pix[i] = uint8(rng.IntN(200))
	}
	images["Paletted"] = paletted

	cmyk := image.NewCMYK(rect)
	randomBytes(rng, cmyk.Pix)
	images["CMYK"] = cmyk

	nrgba64 := image.NewNRGBA64(rect)
	randomBytes(rng, nrgba64.Pix)
	images["NRGBA64"] = nrgba64

	rgba64 := image.NewRGBA64(rect)
	randomPremultiplied(rng, rgba64.Pix, 2)
	images["RGBA64"] = rgba64

	gray16 := image.NewGray16(rect)
	randomBytes(rng, gray16.Pix)
	images["Gray16"] = gray16

	alpha16 := image.NewAlpha16(rect)
	randomBytes(rng, alpha16.Pix)
	images["Alpha16"] = alpha16

	// A sub-image has a bounds origin other than (0, 0).
	images["NRGBA sub-image"] = nrgba.SubImage(image.Rect(5, 3, 30, 20))
	images["Paletted sub-image"] = paletted.SubImage(image.Rect(1, 2, 9, 21))
	return images
}

func TestFromImageMatchesColorModel(t *testing.T) {
	for name, img := range testImages() {
		t.Run(name, func(t *testing.T) {
			p := FromImage(img)
			wantRGB, wantAlpha := referencePixels(img, p.Depth)
			if !bytes.Equal(p.RGB, wantRGB) {
				t.Errorf("RGB differs from the color model's conversion")
			}
			opaque := bytes.Count(wantAlpha, []byte{0xff}) == len(wantAlpha)
			switch {
			case opaque && p.Alpha != nil:
				t.Errorf("Alpha is not nil for an opaque image")
			case !opaque && !bytes.Equal(p.Alpha, wantAlpha):
				t.Errorf("Alpha differs from the color model's conversion")
			}
			if p.Width != img.Bounds().Dx() || p.Height != img.Bounds().Dy() {
				t.Errorf("size %dx%d, want %v", p.Width, p.Height, img.Bounds().Size())
			}
		})
	}
}

func TestFromImageDepth(t *testing.T) {
	rect := image.Rect(0, 0, 1, 1)
	tests := []struct {
		img  image.Image
		want int
	}{
		{image.NewGray16(rect), 16},
		{image.NewRGBA64(rect), 16},
		{image.NewNRGBA64(rect), 16},
		{image.NewGray(rect), 8},
		{image.NewRGBA(rect), 8},
		{image.NewNRGBA(rect), 8},
		{image.NewCMYK(rect), 8},
		{image.NewYCbCr(rect, image.YCbCrSubsampleRatio420), 8},
		{image.NewPaletted(rect, color.Palette{color.Black}), 8},
		{image.NewAlpha16(rect), 8},
	}
	for _, tt := range tests {
		if got := FromImage(tt.img).Depth; got != tt.want {
			t.Errorf("FromImage(%T).Depth = %d, want %d", tt.img, got, tt.want)
		}
	}
}

func TestFromImageOpaqueHasNilAlpha(t *testing.T) {
	img := image.NewNRGBA(image.Rect(0, 0, 3, 2))
	for i := range img.Pix {
		img.Pix[i] = 0xff
	}
	if p := FromImage(img); p.Alpha != nil {
		t.Errorf("Alpha = %v for an opaque image, want nil", p.Alpha)
	}

	img.SetNRGBA(2, 1, color.NRGBA{R: 1, G: 2, B: 3, A: 0xfe})
	p := FromImage(img)
	if p.Alpha == nil {
		t.Fatalf("Alpha is nil with one pixel at alpha 0xfe")
	}
	if p.Alpha[5] != 0xfe || p.Alpha[0] != 0xff {
		t.Errorf("Alpha = %v, want 0xff everywhere but 0xfe last", p.Alpha)
	}
}

func TestFromImagePaletteIndexPastEnd(t *testing.T) {
	img := image.NewPaletted(image.Rect(0, 0, 2, 1), color.Palette{color.NRGBA{R: 9, G: 8, B: 7, A: 0xff}})
	img.Pix[1] = 5
	p := FromImage(img)
	if want := []byte{9, 8, 7, 0, 0, 0}; !bytes.Equal(p.RGB, want) {
		t.Errorf("RGB = %v, want %v (index 5 reads as opaque black)", p.RGB, want)
	}
	if p.Alpha != nil {
		t.Errorf("Alpha = %v, want nil", p.Alpha)
	}
}

func TestFromImageGrayscale(t *testing.T) {
	img := image.NewNRGBA(image.Rect(0, 0, 2, 1))
	img.SetNRGBA(0, 0, color.NRGBA{R: 7, G: 7, B: 7, A: 0xff})
	img.SetNRGBA(1, 0, color.NRGBA{R: 200, G: 200, B: 200, A: 0x10})
	if !FromImage(img).Grayscale {
		t.Errorf("Grayscale = false for pixels with R == G == B")
	}
	img.SetNRGBA(1, 0, color.NRGBA{R: 200, G: 200, B: 201, A: 0x10})
	if FromImage(img).Grayscale {
		t.Errorf("Grayscale = true with a pixel whose B differs")
	}
}

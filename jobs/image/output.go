package imagejob

import (
	"image"
)

// Image returns g as a standard image: *image.Gray or *image.Gray16 when g has
// no alpha, else *image.NRGBA or *image.NRGBA64 with R = G = B = gray and the
// source's alpha. The gray images share memory with g.Gray.
func (g *GrayPlane) Image() image.Image {
	rect := image.Rect(0, 0, g.Width, g.Height)
	sampleSize := bytesPerSample(g.Depth)
	if g.Alpha == nil {
		if g.Depth == 16 {
			return &image.Gray16{Pix: g.Gray, Stride: 2 * g.Width, Rect: rect}
		}
		return &image.Gray{Pix: g.Gray, Stride: g.Width, Rect: rect}
	}

	// NRGBA and NRGBA64 store R, G, B, A in that order with the same sample
	// size and byte order as g, so each pixel is 4 copies of its samples.
	pix := make([]byte, 4*len(g.Gray))
	for i := 0; i < len(g.Gray); i += sampleSize {
		gray, alpha := g.Gray[i:i+sampleSize], g.Alpha[i:i+sampleSize]
		out := pix[4*i:]
		copy(out, gray)
		copy(out[sampleSize:], gray)
		copy(out[2*sampleSize:], gray)
		copy(out[3*sampleSize:], alpha)
	}
	if g.Depth == 16 {
		return &image.NRGBA64{Pix: pix, Stride: 8 * g.Width, Rect: rect}
	}
	return &image.NRGBA{Pix: pix, Stride: 4 * g.Width, Rect: rect}
}

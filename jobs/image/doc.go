// Package imagejob implements the "image.gray" job: it converts a photo to
// grayscale by splitting it into tiles that worker nodes convert independently.
//
// The coordinator calls Load, Split, sends each Tile.Payload as a task of kind
// Kind, collects the workers' outputs, then calls Assemble and Save. A worker
// node runs Process on each payload. ConvertLocal computes the same result in a
// single process, and the tests check that both paths write identical files.
//
// Color samples stay unpremultiplied from decoding to output, so a pixel's gray
// value never depends on its alpha. See Method for the exact conversion
// formulas, which the worker firmware reimplements bit for bit.
package imagejob

/*
 * Decloud: DecloudInfer's tile planning, pure arithmetic (no image, no pipeline): the padding among those a model
 * offers, the largest tile whose tensors fit in RAM, the tile side that covers an image with the fewest computed
 * pixels, and the resulting waste (pixels computed per output pixel). bench/fullscene.py mirrors BestTile in Python.
 */
#ifndef otbDecloudTiling_h
#define otbDecloudTiling_h

#include "OTBDecloudExport.h"

#include <array>
#include <cstddef>
#include <vector>

namespace otb
{
namespace decloud
{

/**
 * The padding (margin computed and dropped around each tile) among `offered` (ascending, not empty): `requested`
 * when given (`given`) and offered, else the largest offered padding of 32 pixels or less, or the smallest when
 * none is (imported original models). Throws std::invalid_argument "the model offers 0, 16, not 5" when the
 * requested padding is not offered (a negative request counts as 0), std::invalid_argument when `offered` is empty.
 */
OTBDecloud_EXPORT unsigned int ChoosePadding(const std::vector<unsigned int>& offered, bool given, int requested);

/** One tensor a tile feeds or produces: its pixel size relative to the output's, its channels, its margin. */
struct TileTensor
{
  unsigned int scale = 1;    // pixel size relative to 10 m (2: a 20 m tensor)
  size_t       channels = 0; // values per pixel
  bool         padded = true; // an input: tile + 2 x padding pixels per side (an output: tile only)
};

/** Bytes (float32) of `tensors` for one tile of `tile` x `tile` output pixels with a margin of `padding`. */
OTBDecloud_EXPORT double TileBytes(const std::vector<TileTensor>& tensors, unsigned long tile, unsigned int padding);

/** The tile side TileInRam chose and whether it lowered the request to fit. */
struct TileFit
{
  unsigned long tile = 0;
  bool          lowered = false;
};

/**
 * The largest tile side, a multiple of `multiple` (0 counts as 1), at most `requested`, whose tensors fit in
 * `ramBytes` (TileBytes); one multiple at least, even when that does not fit, and when `requested` is below it.
 */
OTBDecloud_EXPORT TileFit TileInRam(unsigned long requested, unsigned long multiple, unsigned int padding,
                                    const std::vector<TileTensor>& tensors, double ramBytes);

/**
 * The output side of the last of the tiles of `tile` pixels that cover `size` pixels (both 1 or more): what is left
 * of the image after the whole tiles, rounded up to a multiple of `multiple` (0 counting as 1), `tile` at most. The
 * model filter computes that tile on that side only (TensorflowMultisourceModelFilter::SetTileMultiple), not on a
 * whole tile's mirrored beyond the image.
 */
OTBDecloud_EXPORT unsigned long LastTile(unsigned long size, unsigned long tile, unsigned long multiple);

/**
 * Pixels computed along one side of `size` pixels with tiles of `tile` (each computing tile + 2 x padding, the last
 * one LastTile + 2 x padding).
 */
OTBDecloud_EXPORT unsigned long CoverCost(unsigned long size, unsigned long tile, unsigned long multiple,
                                          unsigned long padding);

/**
 * Output tile side (a multiple of `multiple`, 0 counting as 1, at most `target` but one multiple at least) that
 * covers `size` pixels with the fewest computed pixels (CoverCost); among equal costs, the largest tile.
 */
OTBDecloud_EXPORT unsigned long BestTile(unsigned long size, unsigned long target, unsigned long multiple,
                                         unsigned long padding);

/** The tiles of an image and their cost. */
struct TilePlan
{
  std::array<unsigned long, 2> tile{{0, 0}}; // output pixels per tile, x and y
  std::array<unsigned long, 2> last{{0, 0}}; // output pixels of the last column's and the last row's tiles (LastTile)
  double                       waste = 1.0;  // pixels computed per output pixel (margins and the last tiles' excess)
};

/**
 * BestTile on each side of a `size` image (both 1 or more, else std::invalid_argument) and the waste: the product
 * over x and y of CoverCost / size.
 */
OTBDecloud_EXPORT TilePlan PlanTiles(const std::array<unsigned long, 2>& size, unsigned long target,
                                     unsigned long multiple, unsigned int padding);

} // namespace decloud
} // namespace otb

#endif

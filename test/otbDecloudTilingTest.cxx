/*
 * Unit test of DecloudInfer's tile planning, in memory (decloud::ChoosePadding, TileBytes, TileInRam, BestTile,
 * PlanTiles): tiles are multiples of the card's spatial multiple, the smallest computed area wins (ties: the larger
 * tile), an image smaller than a tile, multiple 1 and 0, a padding larger than the image, RAM limits, the waste.
 */
#include "otbDecloudUnitTest.h"
#include "otbDecloudTiling.h"

#include <cmath>
#include <cstdlib>
#include <iostream>
#include <stdexcept>
#include <string>
#include <vector>

namespace
{
using namespace otb::decloud;

using otb::decloud::unittest::Check;
using otb::decloud::unittest::CheckEqual;


/** CoverCost from its definition: every tile's computed side, one by one. */
unsigned long Cost(unsigned long size, unsigned long tile, unsigned long multiple, unsigned long padding)
{
  multiple = std::max(1UL, multiple);
  unsigned long cost = 0;
  for (unsigned long start = 0; start < size; start += tile)
  {
    const unsigned long side = std::min(tile, (std::min(tile, size - start) + multiple - 1) / multiple * multiple);
    cost += side + 2 * padding;
  }
  return cost;
}

template <class F>
std::string Thrown(F f)
{
  try
  {
    f();
  }
  catch (const std::invalid_argument& e)
  {
    return e.what();
  }
  return "";
}

void TestChoosePadding()
{
  CheckEqual(ChoosePadding({0, 16, 64}, false, 0), 16, "default: the largest padding of 32 or less");
  CheckEqual(ChoosePadding({0, 32, 64}, false, 0), 32, "default: 32 counts");
  CheckEqual(ChoosePadding({64, 128}, false, 0), 64, "default: the smallest when none is 32 or less");
  CheckEqual(ChoosePadding({0}, false, 0), 0, "default: the only one");
  CheckEqual(ChoosePadding({0, 16, 64}, true, 64), 64, "requested and offered");
  CheckEqual(ChoosePadding({0, 16, 64}, true, 0), 0, "requested 0");
  const std::string refused = Thrown([] { ChoosePadding({0, 16, 64}, true, 5); });
  Check(refused == "the model offers 0, 16, 64, not 5", "refused padding: '" + refused + "'");
  const std::string negative = Thrown([] { ChoosePadding({16}, true, -3); });
  Check(negative == "the model offers 16, not -3", "negative padding (counts as 0): '" + negative + "'");
  CheckEqual(ChoosePadding({0, 16}, true, -3), 0, "negative padding counts as 0");
  Check(!Thrown([] { ChoosePadding({}, false, 0); }).empty(), "no padding offered: refused");
}

void TestBestTile()
{
  // Rules, over many sizes, targets, multiples and paddings: a multiple, at most the target (one multiple at
  // least), the smallest cost among the allowed tiles, the largest tile among equal costs.
  for (unsigned long multiple : {1UL, 8UL, 32UL, 64UL})
    for (unsigned long target : {1UL, 64UL, 100UL, 512UL})
      for (unsigned long padding : {0UL, 16UL, 64UL, 5000UL})
        for (unsigned long size = 1; size <= 1200; size += (size < 70 ? 1 : 37))
        {
          const unsigned long tile = BestTile(size, target, multiple, padding);
          const std::string   what = "BestTile(" + std::to_string(size) + ", " + std::to_string(target) + ", " +
                                   std::to_string(multiple) + ", " + std::to_string(padding) + ") = " + std::to_string(tile);
          Check(tile % multiple == 0 && tile >= multiple, what + ": not a multiple");
          Check(tile <= std::max(multiple, target), what + ": above the target");
          Check(tile < size + multiple, what + ": a whole multiple beyond the image");
          for (unsigned long other = multiple; other <= std::max(multiple, target) && other < size + multiple; other += multiple)
          {
            const unsigned long c = Cost(size, other, multiple, padding), best = Cost(size, tile, multiple, padding);
            if (c < best || (c == best && other > tile))
            {
              Check(false, what + ": tile " + std::to_string(other) + " computes " + std::to_string(c) + " pixels, not " +
                             std::to_string(best));
              break;
            }
          }
        }
  // The examples.
  CheckEqual(BestTile(10980, 512, 64, 16), 512, "a full S2 tile, multiple 64, padding 16: 21 tiles of 512, one of 256");
  CheckEqual(BestTile(1100, 512, 64, 16), 512, "2 tiles of 512 and one of 128 (1248 pixels), as 3 of 384: the larger");
  CheckEqual(BestTile(1000, 512, 32, 0), 512, "no padding: the largest tile that covers in the fewest tiles");
  CheckEqual(BestTile(100, 40, 1, 10), 40, "multiple 1: the last tile is what is left, so the fewest tiles, the largest");
  CheckEqual(BestTile(100, 512, 32, 16), 128, "image smaller than a tile: one tile, the multiple above the image");
  CheckEqual(BestTile(5, 512, 64, 16), 64, "image smaller than the multiple: one multiple");
  CheckEqual(BestTile(100, 10, 64, 0), 64, "target below the multiple: one multiple");
  CheckEqual(BestTile(1000, 512, 32, 100000), 512, "huge padding: the fewest tiles, the largest");
  CheckEqual(BestTile(100, 40, 0, 10), 40, "multiple 0 counts as 1");
}

void TestLastTile()
{
  CheckEqual(LastTile(10980, 512, 64), 256, "a full S2 tile: 228 pixels left after 21 tiles, 256 computed");
  CheckEqual(LastTile(1024, 512, 64), 512, "tiles dividing the image: the last one whole");
  CheckEqual(LastTile(1025, 512, 64), 64, "one pixel left: one multiple");
  CheckEqual(LastTile(100, 512, 64), 128, "one tile: the image rounded up to the multiple");
  CheckEqual(LastTile(100, 40, 1), 20, "multiple 1: what is left");
  CheckEqual(LastTile(100, 40, 0), 20, "multiple 0 counts as 1");
  CheckEqual(LastTile(90, 64, 48), 48, "26 left, one multiple of 48");
  CheckEqual(LastTile(120, 64, 48), 64, "56 left, two multiples of 48 would exceed the tile: the tile");
  CheckEqual(CoverCost(10980, 512, 64, 32), 21UL * 576 + 320, "a full S2 tile, padding 32");
  for (unsigned long multiple : {1UL, 32UL, 48UL, 64UL})
    for (unsigned long size = 1; size <= 1300; size += 7)
      for (unsigned long tile : {64UL, 96UL, 512UL})
        CheckEqual(CoverCost(size, tile, multiple, 16), Cost(size, tile, multiple, 16),
                   "CoverCost(" + std::to_string(size) + ", " + std::to_string(tile) + ", " + std::to_string(multiple) + ")");
}

void TestPlanTiles()
{
  const TilePlan plan = PlanTiles({{10980, 1000}}, 512, 64, 16);
  CheckEqual(plan.tile[0], 512, "plan x");
  CheckEqual(plan.tile[1], 512, "plan y");
  CheckEqual(plan.last[0], 256, "plan: the last column's tiles");
  CheckEqual(plan.last[1], 512, "plan: the last row's tiles (488 left)");
  const double expected = ((21.0 * 544 + 288) / 10980) * (2.0 * 544 / 1000);
  Check(plan.waste == expected, "waste " + std::to_string(plan.waste) + ", expected " + std::to_string(expected));
  const TilePlan exact = PlanTiles({{512, 1024}}, 512, 64, 0);
  Check(exact.waste == 1.0, "no padding, tiles dividing the image: waste 1, got " + std::to_string(exact.waste));
  const TilePlan small = PlanTiles({{10, 20}}, 512, 64, 8);
  CheckEqual(small.tile[0], 64, "small image x");
  Check(small.waste == (80.0 / 10) * (80.0 / 20), "small image: waste " + std::to_string(small.waste));
  Check(!Thrown([] { PlanTiles({{0, 10}}, 512, 64, 0); }).empty(), "an empty image: refused");
}

void TestTileInRam()
{
  // Four 4-band 10 m inputs, a 2-band 20 m input, a 4-band 10 m output and a 6-band 20 m output.
  const std::vector<TileTensor> tensors{{1, 4, true}, {1, 4, true}, {1, 4, true}, {1, 4, true}, {2, 2, true},
                                        {1, 4, false}, {2, 6, false}};
  const double bytes = TileBytes(tensors, 100, 10);
  Check(bytes == 4.0 * (4 * 120 * 120 * 4 + 60 * 60 * 2 + 100 * 100 * 4 + 50 * 50 * 6), "TileBytes " + std::to_string(bytes));
  TileFit fit = TileInRam(512, 64, 16, tensors, 1e12);
  CheckEqual(fit.tile, 512, "enough RAM: the request");
  Check(!fit.lowered, "enough RAM: not lowered");
  CheckEqual(TileInRam(500, 64, 16, tensors, 1e12).tile, 448, "the request rounded down to a multiple");
  CheckEqual(TileInRam(10, 64, 16, tensors, 1e12).tile, 64, "a request below the multiple: one multiple");
  CheckEqual(TileInRam(10, 0, 16, tensors, 1e12).tile, 10, "multiple 0 counts as 1");
  fit = TileInRam(512, 1, 16, tensors, 1.0);
  CheckEqual(fit.tile, 1, "no RAM, multiple 1: one pixel");
  Check(fit.lowered, "no RAM: lowered");
  CheckEqual(TileInRam(512, 64, 16, tensors, 1.0).tile, 64, "no RAM: one multiple at least");
  // A limit between two multiples: the largest multiple that fits.
  for (unsigned long multiple : {1UL, 32UL, 64UL})
    for (unsigned int padding : {0u, 16u, 256u})
      for (double mb : {5.0, 20.0, 64.0, 300.0})
      {
        const double  ram = mb * 1048576.0;
        const TileFit f = TileInRam(2048, multiple, padding, tensors, ram);
        const std::string what = "TileInRam(2048, " + std::to_string(multiple) + ", " + std::to_string(padding) + ", " +
                                 std::to_string(mb) + " MB) = " + std::to_string(f.tile);
        Check(f.tile % multiple == 0 && f.tile >= multiple && f.tile <= 2048, what + ": not a multiple up to the request");
        Check(f.lowered == (TileBytes(tensors, 2048, padding) > ram), what + ": lowered flag");
        if (f.tile > multiple)
          Check(TileBytes(tensors, f.tile, padding) <= ram, what + ": does not fit");
        if (f.tile < 2048)
          Check(TileBytes(tensors, f.tile + multiple, padding) > ram, what + ": a larger multiple fits");
      }
}
} // namespace

int main()
{
  TestChoosePadding();
  TestBestTile();
  TestLastTile();
  TestPlanTiles();
  TestTileInRam();
  return otb::decloud::unittest::Finish();
}

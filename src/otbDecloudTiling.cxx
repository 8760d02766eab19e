#include "otbDecloudTiling.h"

#include <algorithm>
#include <sstream>
#include <stdexcept>

namespace otb
{
namespace decloud
{

unsigned int ChoosePadding(const std::vector<unsigned int>& offered, bool given, int requested)
{
  if (offered.empty())
    throw std::invalid_argument("the model offers no padding");
  if (given)
  {
    const auto p = static_cast<unsigned int>(std::max(0, requested));
    if (std::find(offered.begin(), offered.end(), p) == offered.end())
    {
      std::ostringstream msg;
      msg << "the model offers ";
      for (size_t i = 0; i < offered.size(); ++i)
        msg << (i ? ", " : "") << offered[i];
      msg << ", not " << requested;
      throw std::invalid_argument(msg.str());
    }
    return p;
  }
  unsigned int best = offered.front(); // the smallest, when none is 32 or less (imported original models)
  for (unsigned int p : offered)
    if (p <= 32)
      best = p;
  return best;
}

double TileBytes(const std::vector<TileTensor>& tensors, unsigned long tile, unsigned int padding)
{
  double values = 0;
  for (const TileTensor& t : tensors)
  {
    const double side = static_cast<double>(t.padded ? tile + 2 * padding : tile) / t.scale;
    values += side * side * t.channels;
  }
  return values * sizeof(float);
}

TileFit TileInRam(unsigned long requested, unsigned long multiple, unsigned int padding,
                  const std::vector<TileTensor>& tensors, double ramBytes)
{
  multiple = std::max(1UL, multiple);
  TileFit             fit;
  const unsigned long largest = std::max(multiple, requested / multiple * multiple);
  fit.tile = largest;
  if (TileBytes(tensors, fit.tile, padding) > ramBytes)
  {
    // Bisection on multiples of `multiple` (the bytes grow with the tile).
    unsigned long lo = 1, hi = largest / multiple;
    while (lo < hi)
    {
      const unsigned long mid = (lo + hi + 1) / 2;
      if (TileBytes(tensors, mid * multiple, padding) <= ramBytes)
        lo = mid;
      else
        hi = mid - 1;
    }
    fit.tile = lo * multiple;
    fit.lowered = true;
  }
  return fit;
}

unsigned long LastTile(unsigned long size, unsigned long tile, unsigned long multiple)
{
  multiple = std::max(1UL, multiple);
  const unsigned long left = size - (size - 1) / tile * tile; // in [1, tile]
  return std::min(tile, (left + multiple - 1) / multiple * multiple);
}

unsigned long CoverCost(unsigned long size, unsigned long tile, unsigned long multiple, unsigned long padding)
{
  return (size - 1) / tile * (tile + 2 * padding) + LastTile(size, tile, multiple) + 2 * padding;
}

unsigned long BestTile(unsigned long size, unsigned long target, unsigned long multiple, unsigned long padding)
{
  multiple = std::max(1UL, multiple);
  const unsigned long largest = std::max(multiple, std::min(target, (size + multiple - 1) / multiple * multiple) / multiple * multiple);
  unsigned long best = largest, bestCost = ~0UL;
  for (unsigned long tile = largest; tile >= multiple; tile -= multiple)
  {
    const unsigned long cost = CoverCost(size, tile, multiple, padding);
    if (cost < bestCost)
    {
      best = tile;
      bestCost = cost;
    }
  }
  return best;
}

TilePlan PlanTiles(const std::array<unsigned long, 2>& size, unsigned long target, unsigned long multiple,
                   unsigned int padding)
{
  if (size[0] == 0 || size[1] == 0)
    throw std::invalid_argument("an empty image has no tiles");
  TilePlan plan;
  for (unsigned int dim = 0; dim < 2; ++dim)
  {
    const unsigned long tile = BestTile(size[dim], target, multiple, padding);
    plan.tile[dim] = tile;
    plan.last[dim] = LastTile(size[dim], tile, multiple);
    plan.waste *= static_cast<double>(CoverCost(size[dim], tile, multiple, padding)) / size[dim];
  }
  return plan;
}

} // namespace decloud
} // namespace otb

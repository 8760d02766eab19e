#ifndef otbDecloudNodataFilter_hxx
#define otbDecloudNodataFilter_hxx

#include "otbDecloudHoles.h"
#include "otbDecloudNodataFilter.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace otb
{

template <class TImage>
void DecloudNodataFilter<TImage>::GenerateOutputInformation()
{
  Superclass::GenerateOutputInformation();
  this->GetOutput()->SetNumberOfComponentsPerPixel(this->GetInput()->GetNumberOfComponentsPerPixel());
}

template <class TImage>
void DecloudNodataFilter<TImage>::ThreadedGenerateData(const RegionType& region, itk::ThreadIdType)
{
  using Value = typename TImage::InternalPixelType;
  const TImage*      input = this->GetInput();
  TImage*            output = this->GetOutput();
  const unsigned int bands = output->GetNumberOfComponentsPerPixel();
  // Without a nodata value, a NaN nodata: HasData then only looks for NaN.
  const double       nodata = m_HasNodata ? m_NodataValue : std::numeric_limits<double>::quiet_NaN();
  const Value        replacement = static_cast<Value>(m_Replacement);
  for (auto y = region.GetIndex(1); y < region.GetIndex(1) + static_cast<long>(region.GetSize(1)); ++y)
  {
    itk::Index<2> start{{region.GetIndex(0), y}};
    const Value*  in = decloud::BufferPointer(input, start, bands);
    Value*        out = decloud::BufferPointer(output, start, bands);
    // The row in one copy (a pixel's few values copied one pixel at a time cost a call each), then its holes.
    std::copy(in, in + region.GetSize(0) * bands, out);
    for (size_t x = 0; x < region.GetSize(0); ++x, in += bands, out += bands)
      if (!decloud::HasData(in, bands, nodata))
        std::fill(out, out + bands, replacement);
  }
}

} // namespace otb
#endif

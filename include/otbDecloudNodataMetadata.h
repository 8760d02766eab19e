/*
 * Decloud: declare a nodata value on every band of an output image (GeoTIFF writers store it).
 */
#ifndef otbDecloudNodataMetadata_h
#define otbDecloudNodataMetadata_h

#include "otbImageMetadata.h"

namespace otb
{
template <class TImage>
void SetNodataMetadata(TImage* image, double nodata)
{
  ImageMetadata& md = image->GetImageMetadata();
  md.Bands.resize(image->GetNumberOfComponentsPerPixel());
  for (auto& band : md.Bands)
    band.Add(MDNum::NoData, nodata);
}
} // namespace otb
#endif

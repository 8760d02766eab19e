/*
 * Decloud: what an output says about itself (band names, acquisition date, notes) and what an input file says
 * about itself (band descriptions, value range, nodata, date in its name): the checks and tags of DecloudInfer
 * and DecloudGapFilling.
 */
#ifndef otbDecloudOutputTags_h
#define otbDecloudOutputTags_h

#include "OTBDecloudExport.h"

#include "itkImageAlgorithm.h"
#include "itkImageToImageFilter.h"
#include "otbImageFileReader.h"
#include "otbImageMetadata.h"
#include "otbVectorImage.h"

#include <string>
#include <utility>
#include <vector>

namespace otb
{
namespace decloud
{

/** GDAL metadata item of an output holding its acquisition date (ISO 8601, UTC). */
constexpr const char* DateItem = "ACQUISITION_DATE";
/** GDAL metadata item of an output holding notes on how it was made (e.g. B8A as the NIR band). */
constexpr const char* NoteItem = "DECLOUD_NOTE";
/** The band names of Decloud's S2 10 m encoding (prepared s2_10m.tif, the models' s2 inputs and outputs). */
OTBDecloud_EXPORT const std::vector<std::string>& S2Bands10m();

/** Band names and dataset items that an output carries. */
struct OTBDecloud_EXPORT OutputTags
{
  std::vector<std::string>                         bandNames; // empty: none
  std::vector<std::pair<std::string, std::string>> items;     // GDAL dataset metadata items

  void Set(const std::string& key, const std::string& value);
};

/**
 * The tags in OTB's metadata of an image: BandName of each band (OTB's GeoTIFF writer stores it as the band's
 * "BandName" metadata item) and the items as extra keys (stored as dataset metadata items).
 */
OTBDecloud_EXPORT void AddTags(ImageMetadata& imd, unsigned int bands, const OutputTags& tags);

/**
 * The written raster `path` (a temporary file, before its rename) gets GDAL band descriptions (what QGIS and
 * gdalinfo show as band names) from its bands' "BandName" items. False when its format cannot be updated (the
 * names then stay items only); throws std::runtime_error on a GDAL error while the file is updated.
 */
OTBDecloud_EXPORT bool DescribeBands(const std::string& path);

/** What a raster file says about itself, read with GDAL; `readable` false when GDAL cannot open it. */
struct OTBDecloud_EXPORT RasterFacts
{
  bool                     readable = false;
  std::vector<std::string> descriptions; // per band, "" where none
  bool                     hasNodata = false;
  double                   nodata = 0;
  std::string              dataType;     // GDAL's name: "Byte", "UInt16", "Int16", "Float32"...
  std::string              date;         // its ACQUISITION_DATE item, "" if none

  static RasterFacts Of(const std::string& path);
};

/**
 * Approximate (min, max) of band 1 of a raster (GDAL's approximate statistics: overviews or a subsample of the
 * blocks, whole small images), ignoring its nodata value. Throws std::runtime_error when it cannot be read.
 */
OTBDecloud_EXPORT std::pair<double, double> ApproximateRange(const std::string& path, int band = 1);

/** "B2" for "B02", "b2", "B2"; "B8A" for "B8A", "B08A"; "" when `description` is not an S2 band name. */
OTBDecloud_EXPORT std::string S2BandName(const std::string& description);

/**
 * A date in a file path, as ISO 8601: the last YYYYMMDD (optionally followed by THHMMSS) of a plausible date
 * ("S2_L2A_20220617_B2B3B4B8.tif", ".../S2_32TPS_20220617T102041/s2_10m.tif"); "" when there is none.
 */
OTBDecloud_EXPORT std::string DateInPath(const std::string& path);

/**
 * The band names of an S2 output whose bands follow `expected` (the model's) when the input is described by
 * `described` (its GDAL band descriptions): `expected`, except B8A where the model has B8 and the input B8A
 * (`note` then says so). Throws std::invalid_argument when the input's descriptions are all S2 band names but
 * not the model's (another order, other bands), naming both lists.
 */
OTBDecloud_EXPORT std::vector<std::string> S2OutputBands(const std::vector<std::string>& expected,
                                                         const std::vector<std::string>& described, std::string& note);

/** The file `image` is read from, following the pipeline up to its reader (through in-memory crops); "" if none. */
template <class TImage>
std::string InputFileName(TImage* image)
{
  itk::DataObject* data = image;
  for (int depth = 0; data && depth < 16; ++depth)
  {
    itk::ProcessObject* source = data->GetSource();
    if (!source)
      return "";
    if (auto* reader = dynamic_cast<ImageFileReader<TImage>*>(source))
    {
      const std::string name = reader->GetFileName();
      return name.substr(0, name.find('?'));
    }
    data = source->GetNumberOfIndexedInputs() > 0 ? source->GetInputs().front().GetPointer() : nullptr;
  }
  return "";
}

} // namespace decloud

/**
 * \class DecloudTagsFilter
 * \brief Its input, unchanged, with tags (band names, dataset items) in its OTB metadata: written by OTB's
 * GeoTIFF writer as metadata items, made band descriptions by decloud::DescribeBands.
 */
template <class TImage>
class ITK_EXPORT DecloudTagsFilter : public itk::ImageToImageFilter<TImage, TImage>
{
public:
  using Self = DecloudTagsFilter;
  using Superclass = itk::ImageToImageFilter<TImage, TImage>;
  using Pointer = itk::SmartPointer<Self>;
  itkNewMacro(Self);
  itkTypeMacro(DecloudTagsFilter, itk::ImageToImageFilter);

  void SetTags(const decloud::OutputTags& tags)
  {
    m_Tags = tags;
    this->Modified();
  }
  const decloud::OutputTags& GetTags() const { return m_Tags; }

protected:
  DecloudTagsFilter() = default;
  void GenerateOutputInformation() override
  {
    Superclass::GenerateOutputInformation();
    decloud::AddTags(this->GetOutput()->GetImageMetadata(), this->GetOutput()->GetNumberOfComponentsPerPixel(), m_Tags);
  }
  void ThreadedGenerateData(const typename TImage::RegionType& region, itk::ThreadIdType) override
  {
    itk::ImageAlgorithm::Copy(this->GetInput(), this->GetOutput(), region, region);
  }

private:
  decloud::OutputTags m_Tags;
};

} // namespace otb

#endif

/*
 * Decloud: DecloudGapFilling, the image at date t by linear interpolation in time, per pixel.
 */
#include "otbWrapperApplicationFactory.h"
#include "otbWrapperDecloudApplication.h"

#include "otbDecloudDate.h"
#include "otbDecloudGapFillingFilter.h"
#include "otbDecloudOutputTags.h"

#include <cstdlib>
#include <string>

namespace otb
{
namespace Wrapper
{

class DecloudGapFilling : public DecloudApplication
{
public:
  using Self = DecloudGapFilling;
  using Pointer = itk::SmartPointer<Self>;
  itkNewMacro(Self);
  itkTypeMacro(DecloudGapFilling, DecloudApplication);

private:
  using FilterType = DecloudGapFillingFilter<FloatVectorImageType>;

  void DoInit() override
  {
    SetName("DecloudGapFilling");
    SetDescription("The Sentinel-2 image at date t, per pixel linear in time between the nearest clear dates before and after.");
    SetDocLongDescription(
      "For each pixel independently, among the dated images where it is valid (it has data: no band equals the "
      "nodata value or is NaN; and its cloud mask, when given, is 0), takes the latest date at or before t and the "
      "earliest at or after t and interpolates linearly in time between them (double precision, then rounded half "
      "up in the S2 encoding). When only one side has a valid date, its value is used. Holes: where every date that "
      "has data is cloudy, the same rule applies to the dates that have data, cloudy or not; the output is nodata "
      "only where no date has data at the pixel. NaN in float inputs is nodata; with the S2 encoding, 8-bit inputs "
      "(which cannot hold reflectance x 10000) are refused, and so are uint16 inputs while -nodata is -10000 (which "
      "uint16 cannot hold: a raw L2A encoding, nodata 0; prepare it, or give its -nodata). "
      "The output's bands are named (GDAL band descriptions) as the first image's when they are S2 band names, "
      "else B2 B3 B4 B8 for 4 bands; its ACQUISITION_DATE metadata item is -date. "
      "The images (and masks) must share a grid (CRS, pixel size, alignment); the application works on their "
      "common extent. Streamed: any image size.");
    SetDocLimitations("No maximum gap in time: a pixel cloudy on every date but one takes that date's value, a pixel "
                      "cloudy on every date the gap-filling of its cloudy values. "
                      "From the command line the output is written atomically: a temporary file beside it "
                      "(.<name>.<pid>.tmp.tif), renamed over it when complete; a run killed with SIGKILL can leave "
                      "such a file behind, which can be deleted.");
    SetDocAuthors("Decloud developers");
    SetDocSeeAlso("DecloudInfer");
    AddDocTag("Decloud"); // first: the group of the QGIS descriptors
    AddDocTag(Tags::Filter);

    AddDatedImagesParameters("Dated images (e.g. prepared s2_10m.tif)");
    AddParameter(ParameterType_String, "date", "Date t of the output image");
    AddParameter(ParameterType_Float, "nodata", "Nodata value of the images (and of the output)");
    SetDefaultParameterFloat("nodata", S2Nodata);
    AddParameter(ParameterType_OutputImage, "out", "Output image at t");
    AddEncodingParameters({"out"});
    AddRAMParameter();

    SetDocExampleParameterValue("il", "s2_0605.tif s2_0625.tif");
    SetDocExampleParameterValue("masks", "cloud_0605.tif cloud_0625.tif");
    SetDocExampleParameterValue("dates", "2022-06-05 2022-06-25");
    SetDocExampleParameterValue("date", "2022-06-15");
    SetDocExampleParameterValue("out", "gapfilled_0615.tif");
  }

  void DoUpdateParameters() override {}

  void DoExecute() override
  {
    CheckOutputs();
    m_Keep.clear();
    ConfigureGdal();
    const DatedImages in = LoadDatedImages();
    const auto&       seconds = in.seconds;
    const double      target = in.date;
    m_Filter = FilterType::New();
    for (size_t k = 0; k < in.images.size(); ++k)
      m_Filter->PushBackDate(in.images[k], in.masks.empty() ? nullptr : in.masks[k], seconds[k]);
    m_Filter->SetTargetDate(target);
    m_Filter->SetNodataValue(GetParameterFloat("nodata"));
    m_Filter->SetRound(UseS2Encoding());
    // Benchmarks only (bench/fullscene.py): the same reads, streaming and write with no computation (the output
    // is a copy of il #1), to measure the I/O floor of this very pipeline. Not a parameter: not for users.
    const char* floor = std::getenv("DECLOUD_GAPFILLING_IO_FLOOR");
    if (floor && std::string(floor) == "1")
    {
      otbAppLogWARNING("DECLOUD_GAPFILLING_IO_FLOOR=1: I/O floor benchmark, the output is a copy of il #1 (no gap-filling)");
      m_Filter->SetIoFloor(true);
    }
    const auto before = std::count_if(seconds.begin(), seconds.end(), [&](double s) { return s <= target; });
    otbAppLogINFO("Gap-filling at " << GetParameterString("date") << " from " << before << " date(s) at or before it and "
                                    << seconds.size() - before << " after");
    UseTiledGeoTIFF();
    m_Tags = TagsFilterType::New();
    m_Tags->SetInput(m_Filter->GetOutput());
    m_Tags->SetTags(DatedS2Tags(GetParameterImageList("il")->GetNthElement(0), in.bands, GetParameterString("date")));
    SetParameterOutputImage("out", m_Tags->GetOutput());
    WriteOutputs();
  }

  using TagsFilterType = DecloudTagsFilter<FloatVectorImageType>;
  FilterType::Pointer     m_Filter;
  TagsFilterType::Pointer m_Tags;
};

} // namespace Wrapper
} // namespace otb

OTB_APPLICATION_EXPORT(otb::Wrapper::DecloudGapFilling)

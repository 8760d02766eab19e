/*
 * Decloud: DecloudComposite, the composite of a period's images, per pixel: the median of the clear observations or
 * the best available pixel.
 */
#include "otbWrapperApplicationFactory.h"
#include "otbWrapperDecloudApplication.h"

#include "otbDecloudCompositeFilter.h"
#include "otbDecloudDate.h"
#include "otbDecloudOutputTags.h"

#include <cmath>
#include <sstream>

namespace otb
{
namespace Wrapper
{

class DecloudComposite : public DecloudApplication
{
public:
  using Self = DecloudComposite;
  using Pointer = itk::SmartPointer<Self>;
  itkNewMacro(Self);
  itkTypeMacro(DecloudComposite, DecloudApplication);

private:
  using FilterType = DecloudCompositeFilter<FloatVectorImageType>;

  void DoInit() override
  {
    SetName("DecloudComposite");
    SetDescription("The composite of a period's Sentinel-2 images, per pixel: the median of the clear observations, "
                   "or the best available pixel (least cloudy image, nearest to the period's middle).");
    SetDocLongDescription(
      "An observation (an image at a pixel) is valid where it has data (no band equals the nodata value or is NaN) "
      "and its cloud mask, when given, is 0. "
      "Mode median: per pixel and band, the median of the valid observations; with an even number of them, the mean "
      "of the two middle values (as numpy's median), computed in double precision and, with the S2 encoding, rounded "
      "half up (floor(v + 0.5)). "
      "Mode bap (best available pixel): per pixel, the valid observation of the image with the lowest cloud share, "
      "ties broken by nearness of its date to -date, then by input order; its values are copied. The cloud shares "
      "(percent) are -cloudshares when given, else computed from the masks: the share of an image's pixels with data "
      "whose mask is nonzero (as decloud's index: cloud percent of the valid pixels), on the common extent, in a "
      "first streamed pass over the images and masks; 0 for every image without masks. "
      "The output is nodata where no observation is valid. "
      "The output's bands are named (GDAL band descriptions) as the first image's when they are S2 band names, "
      "else B2 B3 B4 B8 for 4 bands; its ACQUISITION_DATE metadata item is -date. With the S2 encoding, 8-bit inputs "
      "are refused, and so are uint16 inputs while -nodata is negative. "
      "The images (and masks) must share a grid (CRS, pixel size, alignment); the application works on their "
      "common extent. Streamed: any image size.");
    SetDocLimitations("No holes filling: a pixel cloudy or without data on every image is nodata. "
                      "From the command line the output is written atomically: a temporary file beside it "
                      "(.<name>.<pid>.tmp.tif), renamed over it when complete; a run killed with SIGKILL can leave "
                      "such a file behind, which can be deleted.");
    SetDocAuthors("Decloud developers");
    SetDocSeeAlso("DecloudGapFilling");
    AddDocTag("Decloud"); // first: the group of the QGIS descriptors
    AddDocTag(Tags::Filter);

    AddDatedImagesParameters("Images of the period (e.g. prepared s2_10m.tif)");
    AddParameter(ParameterType_Choice, "mode", "Composite");
    AddChoice("mode.median", "Median: per pixel and band, the median of the clear valid observations");
    AddChoice("mode.bap", "Best available pixel: the clear valid observation of the least cloudy image, nearest to -date");
    SetParameterString("mode", "median");
    AddParameter(ParameterType_StringList, "cloudshares",
                 "Cloud share of each image in percent, in the same order (bap; default: computed from the masks)");
    MandatoryOff("cloudshares");
    AddParameter(ParameterType_String, "date", "Date of the output: the period's middle (reference of bap)");
    AddParameter(ParameterType_Float, "nodata", "Nodata value of the images (and of the output)");
    SetDefaultParameterFloat("nodata", S2Nodata);
    AddParameter(ParameterType_OutputImage, "out", "Output composite");
    AddEncodingParameters({"out"});
    AddRAMParameter();

    SetDocExampleParameterValue("il", "s2_0605.tif s2_0615.tif s2_0625.tif");
    SetDocExampleParameterValue("masks", "cloud_0605.tif cloud_0615.tif cloud_0625.tif");
    SetDocExampleParameterValue("dates", "2022-06-05 2022-06-15 2022-06-25");
    SetDocExampleParameterValue("mode", "median");
    SetDocExampleParameterValue("date", "2022-06-15");
    SetDocExampleParameterValue("out", "median_202206.tif");
  }

  void DoUpdateParameters() override {}

  void DoExecute() override
  {
    CheckOutputs();
    m_Keep.clear();
    ConfigureGdal();
    const DatedImages in = LoadDatedImages();
    const size_t      n = in.images.size();
    const bool        masks = !in.masks.empty();
    const auto&       seconds = in.seconds;
    const double      reference = in.date;
    const auto        dates = GetParameterStringList("dates");
    const bool        bap = GetParameterString("mode") == "bap";

    std::vector<double> shares;
    if (HasValue("cloudshares"))
    {
      const auto texts = GetParameterStringList("cloudshares");
      if (texts.size() != n)
        otbAppLogFATAL("cloudshares: " << texts.size() << " cloud shares for " << n << " images in il (one per image)");
      for (const auto& t : texts)
      {
        size_t used = 0;
        double share = NAN;
        try
        {
          share = std::stod(t, &used);
        }
        catch (const std::exception&)
        {
          used = 0;
        }
        if (used == 0 || used != t.size() || !(share >= 0 && share <= 100))
          otbAppLogFATAL("cloudshares: '" << t << "' is not a percentage (a number from 0 to 100)");
        shares.push_back(share);
      }
      if (!bap)
        otbAppLogWARNING("cloudshares: ignored by mode median");
    }

    const unsigned int bands = in.bands;
    m_Filter = FilterType::New();
    for (unsigned int k = 0; k < n; ++k)
      m_Filter->PushBackImage(in.images[k], masks ? in.masks[k] : nullptr);
    m_Filter->SetNodataValue(GetParameterFloat("nodata"));
    m_Filter->SetRound(UseS2Encoding());
    if (bap)
    {
      m_Filter->SetMode(decloud::CompositeMode::BestAvailable);
      if (shares.empty())
      {
        // A first streamed pass: stripes of about a quarter of -ram (4-byte values of an image and its mask).
        const size_t ram = static_cast<size_t>(std::max(1, GetParameterInt("ram"))) * 1024 * 1024;
        const size_t pixels = std::max<size_t>(1024, ram / 4 / (4 * (bands + 1)));
        for (unsigned int k = 0; k < n; ++k)
          shares.push_back(masks ? decloud::CloudShare(in.images[k], in.masks[k], GetParameterFloat("nodata"), pixels) : 0.0);
        if (masks)
          otbAppLogINFO("Cloud shares computed from the masks (percent of the pixels with data): " << Join(shares));
      }
      const auto order = decloud::BestAvailableOrder(shares, seconds, reference);
      m_Filter->SetOrder(order);
      std::ostringstream text;
      for (size_t i = 0; i < order.size(); ++i)
        text << (i ? ", " : "") << dates[order[i]] << " (il #" << order[i] + 1 << ", " << shares[order[i]] << " %)";
      otbAppLogINFO("Best available pixel composite at " << GetParameterString("date") << ", images in order of "
                                                          "preference: " << text.str());
    }
    else
    {
      m_Filter->SetMode(decloud::CompositeMode::Median);
      otbAppLogINFO("Median composite of " << n << " image(s)");
    }
    UseTiledGeoTIFF();
    m_Tags = TagsFilterType::New();
    m_Tags->SetInput(m_Filter->GetOutput());
    m_Tags->SetTags(DatedS2Tags(GetParameterImageList("il")->GetNthElement(0), bands, GetParameterString("date")));
    SetParameterOutputImage("out", m_Tags->GetOutput());
    WriteOutputs();
  }

  static std::string Join(const std::vector<double>& values)
  {
    std::ostringstream text;
    for (size_t k = 0; k < values.size(); ++k)
      text << (k ? " " : "") << values[k];
    return text.str();
  }

  using TagsFilterType = DecloudTagsFilter<FloatVectorImageType>;
  FilterType::Pointer     m_Filter;
  TagsFilterType::Pointer m_Tags;
};

} // namespace Wrapper
} // namespace otb

OTB_APPLICATION_EXPORT(otb::Wrapper::DecloudComposite)

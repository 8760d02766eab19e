/*
 * Decloud: DecloudTimeSeriesPreProcessor, the original Decloud's application (same parameter keys and meaning):
 * per pixel, the first S1/S2 pairs of two time series that have data, within a maximum gap in time.
 */
#include "otbWrapperApplicationFactory.h"
#include "otbWrapperDecloudApplication.h"

#include "otbDecloudTimeSeriesPairs.h"
#include "otbDecloudTimeSeriesPairsFilter.h"

#include <cmath>
#include <cstdlib>
#include <ctime>
#include <sstream>

namespace otb
{
namespace Wrapper
{

class DecloudTimeSeriesPreProcessor : public DecloudApplication
{
public:
  using Self = DecloudTimeSeriesPreProcessor;
  using Pointer = itk::SmartPointer<Self>;
  itkNewMacro(Self);
  itkTypeMacro(DecloudTimeSeriesPreProcessor, DecloudApplication);

private:
  using FilterType = DecloudTimeSeriesPairsFilter<FloatVectorImageType>;

  /** The environment variable of the original Decloud that sets the number of output pairs. */
  static constexpr const char* OutputsVariable = "DECLOUD_PREPROCESSING_NOUTPUTS";

  void DoInit() override
  {
    SetName("DecloudTimeSeriesPreProcessor");
    SetDescription("Per pixel, the first S1/S2 pairs of a SAR and an optical time series that both have data, "
                   "within a maximum gap in time (the original Decloud's application).");
    SetDocLongDescription(
      "Candidate pairs: the optical images are sorted by -sorting (asc: time ascending; des: time descending; "
      "abs: |time - sorting.abs.reftimestamp| ascending); for each of them in that order, the SAR images whose time "
      "is within -maxgap seconds of it (inclusive) follow, nearest first. Ties keep the order of -ilopt / -ilsar. "
      "Per pixel, the output pairs (outsar1, outopt1), (outsar2, outopt2)... take the first candidate pairs whose "
      "SAR pixel and optical pixel both have data; a pixel has no data when all its bands equal -nodatasar (SAR) or "
      "-nodataopt (optical). Outputs without a pair at a pixel are nodata there. The same optical image can fill "
      "two outputs at a pixel (paired with two SAR images). Values are copied unchanged (float outputs by default). "
      "Timestamps: seconds since 1970-01-01 UTC (as the original: e.g. Python's str(datetime.timestamp())), or "
      "dates YYYY-MM-DD[THH:MM:SS] (UTC); computed in double precision. Number of output pairs: the environment "
      "variable DECLOUD_PREPROCESSING_NOUTPUTS (default 1), read when the application is created, as in the "
      "original. The images must share a grid (CRS, pixel size, alignment); the application works on their common "
      "extent. Only the images in a candidate pair are read. Streamed: any image size.");
    SetDocLimitations(
      "Each output is written in its own pass over the input images. From the command line the outputs are "
      "written atomically: temporary files beside them (.<name>.<pid>.tmp.tif), renamed over them when all are "
      "complete; a run killed with SIGKILL can leave such files behind, which can be deleted.");
    SetDocAuthors("Decloud developers");
    SetDocSeeAlso("DecloudInfer");
    AddDocTag("Decloud"); // first: the group of the QGIS descriptors
    AddDocTag(Tags::Filter);

    AddParameter(ParameterType_InputImageList, "ilsar", "Input SAR images list");
    AddParameter(ParameterType_InputImageList, "ilopt", "Input optical images list");
    AddParameter(ParameterType_StringList, "timestampssar", "Input SAR images timestamps list");
    SetParameterDescription("timestampssar", "One per SAR image, in the same order: seconds since 1970-01-01 UTC "
                                             "(e.g. 1602561600.0), or YYYY-MM-DD[THH:MM:SS] (UTC)");
    AddParameter(ParameterType_StringList, "timestampsopt", "Input optical images timestamps list");
    SetParameterDescription("timestampsopt", "One per optical image, in the same order: seconds since 1970-01-01 UTC "
                                             "(e.g. 1602561600.0), or YYYY-MM-DD[THH:MM:SS] (UTC)");

    AddParameter(ParameterType_Choice, "sorting", "Order of the pairs");
    AddChoice("sorting.asc", "Optical images in ascending chronological order");
    AddChoice("sorting.des", "Optical images in descending chronological order");
    AddChoice("sorting.abs", "Optical images by ascending absolute gap to a reference timestamp");
    AddParameter(ParameterType_String, "sorting.abs.reftimestamp", "Reference timestamp");
    SetParameterDescription("sorting.abs.reftimestamp", "The time the optical images are sorted by their gap to "
                                                        "(seconds since 1970-01-01 UTC, or YYYY-MM-DD[THH:MM:SS])");
    SetParameterDescription("sorting", "Order in which the optical images are tried; the SAR images of each follow "
                                       "nearest first");

    AddParameter(ParameterType_Float, "maxgap", "Maximum gap between SAR and optical images, in seconds");
    SetDefaultParameterFloat("maxgap", 144.0 * 3600.0);
    SetParameterDescription("maxgap", "A SAR image pairs with an optical image when their times differ by at most "
                                      "this (seconds: hours x 3600; default 144 h)");
    AddParameter(ParameterType_Float, "nodatasar", "No data value for SAR images");
    SetDefaultParameterFloat("nodatasar", 0.0);
    SetParameterDescription("nodatasar", "A SAR pixel has no data when all its bands equal this value (NaN: all NaN); "
                                         "also the value of outsarN where no pair N has data");
    AddParameter(ParameterType_Float, "nodataopt", "No data value for optical images");
    SetDefaultParameterFloat("nodataopt", S2Nodata);
    SetParameterDescription("nodataopt", "An optical pixel has no data when all its bands equal this value (NaN: "
                                         "all NaN); also the value of outoptN where no pair N has data");

    m_Slots = 1;
    m_SlotsError.clear();
    if (const char* text = std::getenv(OutputsVariable))
    {
      const std::string value(text);
      char*             end = nullptr;
      const long        n = value.empty() ? 1 : std::strtol(value.c_str(), &end, 10);
      if (!value.empty() && (end != value.c_str() + value.size() || n < 1 || n > 1000))
        m_SlotsError = "'" + value + "' is not a number of output pairs (an integer from 1 to 1000)";
      else
        m_Slots = static_cast<unsigned int>(n);
    }
    std::vector<std::string> outputs;
    for (unsigned int k = 1; k <= m_Slots; ++k)
    {
      const std::string n = std::to_string(k);
      AddParameter(ParameterType_OutputImage, "outsar" + n, "Output SAR image " + n);
      SetParameterDescription("outsar" + n, "Per pixel, the SAR pixel of the n-th candidate pair (n = " + n +
                                              ") whose SAR and optical pixels both have data");
      AddParameter(ParameterType_OutputImage, "outopt" + n, "Output optical image " + n);
      SetParameterDescription("outopt" + n, "Per pixel, the optical pixel of the n-th candidate pair (n = " + n +
                                              ") whose SAR and optical pixels both have data");
      outputs.push_back("outsar" + n);
      outputs.push_back("outopt" + n);
    }
    m_OutputKeys = outputs;
    AddRAMParameter();
    // When OTB writes the outputs (Python bindings, pyotb's write()): all in one streamed pass, as the original.
    SetMultiWriting(true);

    SetDocExampleParameterValue("ilsar", "s1_0604.tif s1_0610.tif");
    SetDocExampleParameterValue("ilopt", "s2_0605.tif s2_0612.tif");
    SetDocExampleParameterValue("timestampssar", "1654336800 1654855200");
    SetDocExampleParameterValue("timestampsopt", "1654423200 1654996800");
    SetDocExampleParameterValue("sorting", "des");
    SetDocExampleParameterValue("maxgap", "259200");
    SetDocExampleParameterValue("outsar1", "s1_pair.tif");
    SetDocExampleParameterValue("outopt1", "s2_pair.tif");
  }

  void DoUpdateParameters() override {}

  /** The timestamps of parameter `key`, one per image of `images` (a one-line error naming the key otherwise). */
  std::vector<double> Timestamps(const std::string& key, const std::string& images)
  {
    const auto texts = GetParameterStringList(key);
    const auto n = GetParameterImageList(images)->Size();
    if (texts.size() != n)
      otbAppLogFATAL("" << key << ": " << texts.size() << " timestamps for " << n << " images in " << images
                        << " (one per image)");
    std::vector<double> seconds;
    for (const auto& text : texts)
      try
      {
        seconds.push_back(decloud::ParseTimestamp(text));
      }
      catch (const std::invalid_argument& e)
      {
        otbAppLogFATAL("" << key << ": " << e.what());
      }
    return seconds;
  }

  void DoExecute() override
  {
    if (!m_SlotsError.empty())
      otbAppLogFATAL("" << OutputsVariable << ": " << m_SlotsError);
    CheckOutputs();
    m_Keep.clear();
    ConfigureGdal();
    FloatVectorImageListType* sar = GetParameterImageList("ilsar");
    FloatVectorImageListType* opt = GetParameterImageList("ilopt");
    if (sar->Size() == 0)
      otbAppLogFATAL("ilsar: no image given");
    if (opt->Size() == 0)
      otbAppLogFATAL("ilopt: no image given");
    const auto sarTimes = Timestamps("timestampssar", "ilsar");
    const auto optTimes = Timestamps("timestampsopt", "ilopt");

    const double maxGap = GetParameterFloat("maxgap");
    if (!(maxGap >= 0))
      otbAppLogFATAL("maxgap: " << maxGap << " is not a gap in seconds (0 or more)");
    if (maxGap < 3600.0)
      otbAppLogWARNING("maxgap is " << maxGap << " seconds, less than an hour: it is in seconds (hours x 3600)");

    decloud::PairSorting sorting = decloud::PairSorting::Ascending;
    double               reference = 0.0;
    const std::string    mode = GetParameterString("sorting");
    if (mode == "des")
      sorting = decloud::PairSorting::Descending;
    else if (mode == "abs")
    {
      sorting = decloud::PairSorting::AbsoluteGap;
      try
      {
        reference = decloud::ParseTimestamp(GetParameterString("sorting.abs.reftimestamp"));
      }
      catch (const std::invalid_argument& e)
      {
        otbAppLogFATAL("sorting.abs.reftimestamp: " << e.what());
      }
    }

    const auto pairs = decloud::CandidatePairs(sarTimes, optTimes, sorting, reference, maxGap);
    if (pairs.empty())
      otbAppLogFATAL("maxgap: no SAR image within " << maxGap << " s (" << maxGap / 3600.0
                                                    << " h) of an optical image: no S1/S2 pair; increase maxgap or "
                                                       "check timestampssar and timestampsopt");

    // Every image on the first SAR image's grid, cropped to the common extent; the band counts of each series.
    std::vector<GridImage>         grid;
    const std::vector<std::string> sarNames = GetParameterStringList("ilsar");
    const std::vector<std::string> optNames = GetParameterStringList("ilopt");
    for (unsigned int k = 0; k < sar->Size(); ++k)
      grid.push_back({"ilsar #" + std::to_string(k + 1) + " (" + sarNames[k] + ")", sar->GetNthElement(k), 1});
    for (unsigned int k = 0; k < opt->Size(); ++k)
      grid.push_back({"ilopt #" + std::to_string(k + 1) + " (" + optNames[k] + ")", opt->GetNthElement(k), 1});
    const auto inputs = OnCommonExtent(grid);
    CheckBands(grid, inputs, 0, sar->Size(), "ilsar");
    CheckBands(grid, inputs, sar->Size(), grid.size(), "ilopt");

    m_Filter = FilterType::New();
    m_Filter->SetNumberOfSlots(m_Slots);
    m_Filter->SetSarNodataValue(GetParameterFloat("nodatasar"));
    m_Filter->SetOptNodataValue(GetParameterFloat("nodataopt"));
    otbAppLogINFO("" << pairs.size() << " candidate S1/S2 pair(s), in the order each pixel tries them:");
    for (const auto& p : pairs)
    {
      m_Filter->PushBackPair(inputs[p.sar], inputs[sar->Size() + p.opt]);
      otbAppLogINFO("  ilsar #" << p.sar + 1 << " (" << Iso(sarTimes[p.sar]) << ") with ilopt #" << p.opt + 1 << " ("
                                << Iso(optTimes[p.opt]) << "), gap " << std::abs(sarTimes[p.sar] - optTimes[p.opt]) / 3600.0
                                << " h");
    }
    if (pairs.size() < m_Slots)
      otbAppLogWARNING("" << pairs.size() << " candidate pair(s) for " << m_Slots << " output pairs ("
                          << OutputsVariable << "): outputs " << pairs.size() + 1 << " to " << m_Slots
                          << " are nodata everywhere");

    UseTiledGeoTIFF();
    for (unsigned int k = 1; k <= m_Slots; ++k)
    {
      SetParameterOutputImage("outsar" + std::to_string(k), m_Filter->GetSarOutput(k - 1));
      SetParameterOutputImage("outopt" + std::to_string(k), m_Filter->GetOptOutput(k - 1));
    }
    WriteOutputs();
  }

  /** A timestamp as a UTC date and time, for the log. */
  static std::string Iso(double seconds)
  {
    const std::time_t t = static_cast<std::time_t>(std::floor(seconds));
    std::tm           tm{};
    char              text[32] = "";
    if (gmtime_r(&t, &tm))
      std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%S", &tm);
    return text;
  }

  /** The images grid[begin, end) (one series, parameter `key`) have one number of bands. */
  void CheckBands(const std::vector<GridImage>& grid, const std::vector<FloatVectorImageType*>& inputs, size_t begin,
                  size_t end, const std::string& key)
  {
    const unsigned int bands = inputs[begin]->GetNumberOfComponentsPerPixel();
    for (size_t k = begin + 1; k < end; ++k)
      if (inputs[k]->GetNumberOfComponentsPerPixel() != bands)
        otbAppLogFATAL("" << key << ": " << grid[k].key << " has " << inputs[k]->GetNumberOfComponentsPerPixel()
                          << " bands, " << grid[begin].key << " " << bands);
  }

  FilterType::Pointer m_Filter;
  unsigned int        m_Slots = 1;
  std::string         m_SlotsError;
};

} // namespace Wrapper
} // namespace otb

OTB_APPLICATION_EXPORT(otb::Wrapper::DecloudTimeSeriesPreProcessor)

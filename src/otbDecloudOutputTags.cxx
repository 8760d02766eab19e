/*
 * Decloud: output tags and input file facts (see otbDecloudOutputTags.h).
 */
#include "otbDecloudOutputTags.h"

#include "cpl_error.h"
#include "gdal.h"

#include <algorithm>
#include <cctype>
#include <regex>
#include <sstream>
#include <stdexcept>

namespace otb
{
namespace decloud
{

const std::vector<std::string>& S2Bands10m()
{
  static const std::vector<std::string> bands{"B2", "B3", "B4", "B8"};
  return bands;
}

void OutputTags::Set(const std::string& key, const std::string& value)
{
  for (auto& item : items)
    if (item.first == key)
    {
      item.second = value;
      return;
    }
  items.emplace_back(key, value);
}

void AddTags(ImageMetadata& imd, unsigned int bands, const OutputTags& tags)
{
  if (imd.Bands.size() != bands)
    imd.Bands.resize(bands);
  for (unsigned int b = 0; b < bands && b < tags.bandNames.size(); ++b)
    imd.Bands[b].Add(MDStr::BandName, tags.bandNames[b]);
  for (const auto& item : tags.items)
    imd.Add(item.first, item.second);
}

namespace
{
/** GDAL's last error message while `f` runs, or "" (quiet: nothing printed). */
template <class F>
std::string Quietly(F&& f)
{
  CPLErrorReset();
  CPLPushErrorHandler(CPLQuietErrorHandler);
  f();
  const std::string error = CPLGetLastErrorType() >= CE_Failure ? CPLGetLastErrorMsg() : "";
  CPLPopErrorHandler();
  return error;
}
} // namespace

bool DescribeBands(const std::string& path)
{
  bool named = false, opened = false;
  Quietly([&] {
    GDALDatasetH ds = GDALOpen(path.c_str(), GA_ReadOnly);
    if (!ds)
      return;
    for (int b = 1; b <= GDALGetRasterCount(ds); ++b)
    {
      const char* name = GDALGetMetadataItem(GDALGetRasterBand(ds, b), "BandName", nullptr);
      named = named || (name && *name);
    }
    GDALClose(ds);
  });
  if (!named)
    return true;
  const std::string error = Quietly([&] {
    GDALDatasetH ds = GDALOpen(path.c_str(), GA_Update);
    if (!ds)
      return;
    opened = true;
    for (int b = 1; b <= GDALGetRasterCount(ds); ++b)
    {
      GDALRasterBandH band = GDALGetRasterBand(ds, b);
      const char*     name = GDALGetMetadataItem(band, "BandName", nullptr);
      if (name && *name)
        GDALSetDescription(band, name);
    }
    GDALClose(ds);
  });
  if (!opened)
    return false; // a format that GDAL cannot update: the names stay items
  if (!error.empty())
    throw std::runtime_error("its band names could not be written: " + error);
  return true;
}

RasterFacts RasterFacts::Of(const std::string& path)
{
  RasterFacts facts;
  Quietly([&] {
    GDALDatasetH ds = path.empty() ? nullptr : GDALOpen(path.c_str(), GA_ReadOnly);
    if (!ds)
      return;
    facts.readable = true;
    for (int b = 1; b <= GDALGetRasterCount(ds); ++b)
    {
      GDALRasterBandH band = GDALGetRasterBand(ds, b);
      const char*     description = GDALGetDescription(band);
      facts.descriptions.emplace_back(description ? description : "");
      if (b == 1)
      {
        int has = 0;
        facts.nodata = GDALGetRasterNoDataValue(band, &has);
        facts.hasNodata = has != 0;
        facts.dataType = GDALGetDataTypeName(GDALGetRasterDataType(band));
      }
    }
    const char* date = GDALGetMetadataItem(ds, DateItem, nullptr);
    facts.date = date ? date : "";
    GDALClose(ds);
  });
  return facts;
}

std::pair<double, double> ApproximateRange(const std::string& path, int band)
{
  double      range[2] = {0, 0};
  bool        opened = false;
  std::string error = Quietly([&] {
    GDALDatasetH ds = GDALOpen(path.c_str(), GA_ReadOnly);
    if (!ds || band < 1 || band > GDALGetRasterCount(ds))
    {
      if (ds)
        GDALClose(ds);
      return;
    }
    opened = true;
    GDALComputeRasterMinMax(GDALGetRasterBand(ds, band), TRUE, range);
    GDALClose(ds);
  });
  if (!opened || !error.empty())
    throw std::runtime_error("its values cannot be read" + (error.empty() ? std::string() : ": " + error));
  return {range[0], range[1]};
}

std::string S2BandName(const std::string& description)
{
  static const std::regex name("^\\s*[Bb]0*([1-9][0-2]?)([Aa]?)\\s*$");
  std::smatch             m;
  if (!std::regex_match(description, m, name))
    return "";
  const int number = std::stoi(m[1].str());
  if (number > 12 || (!m[2].str().empty() && number != 8))
    return "";
  return "B" + std::to_string(number) + (m[2].str().empty() ? "" : "A");
}

std::string DateInPath(const std::string& path)
{
  static const std::regex date("(?:^|[^0-9])((?:19|20)[0-9]{2})(0[1-9]|1[0-2])(0[1-9]|[12][0-9]|3[01])"
                               "(?:[Tt]([01][0-9]|2[0-3])([0-5][0-9])([0-5][0-9]))?(?=[^0-9]|$)");
  std::string found;
  for (auto it = std::sregex_iterator(path.begin(), path.end(), date); it != std::sregex_iterator(); ++it)
  {
    const std::smatch& m = *it;
    found = m[1].str() + "-" + m[2].str() + "-" + m[3].str();
    if (m[4].matched && (m[4].str() + m[5].str() + m[6].str()) != "000000")
      found += "T" + m[4].str() + ":" + m[5].str() + ":" + m[6].str();
  }
  return found;
}

std::vector<std::string> S2OutputBands(const std::vector<std::string>& expected, const std::vector<std::string>& described,
                                       std::string& note)
{
  note.clear();
  std::vector<std::string> names;
  for (const auto& d : described)
    names.push_back(S2BandName(d));
  const bool allNamed = !names.empty() && std::none_of(names.begin(), names.end(), [](const std::string& n) { return n.empty(); });
  if (!allNamed || names.size() != expected.size())
    return expected;
  std::vector<std::string> bands = expected;
  for (size_t b = 0; b < expected.size(); ++b)
  {
    if (names[b] == expected[b])
      continue;
    if (expected[b] == "B8" && names[b] == "B8A")
    {
      bands[b] = "B8A";
      note = "NIR band B8A (865 nm) in place of the B8 (842 nm) that the model was trained on";
      continue;
    }
    std::ostringstream got, want;
    for (size_t k = 0; k < names.size(); ++k)
      got << (k ? " " : "") << names[k];
    for (size_t k = 0; k < expected.size(); ++k)
      want << (k ? " " : "") << expected[k];
    throw std::invalid_argument("its bands are described as " + got.str() + ", the model takes " + want.str() +
                                " (in this order; B8A may stand for B8)");
  }
  return bands;
}

} // namespace decloud
} // namespace otb

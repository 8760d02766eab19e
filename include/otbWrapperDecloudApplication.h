/*
 * Decloud: what the Decloud applications share (common extent of the inputs, output encoding, COG).
 */
#ifndef otbWrapperDecloudApplication_h
#define otbWrapperDecloudApplication_h

#include "otbWrapperApplication.h"

#include "otbDecloudGrid.h"
#include "otbMultiChannelExtractROI.h"

#include "cpl_conv.h"
#include "cpl_error.h"
#include "gdal.h"
#include "gdal_utils.h"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

namespace otb
{
namespace Wrapper
{

class DecloudApplication : public Application
{
protected:
  using ExtractType = MultiChannelExtractROI<FloatVectorImageType::InternalPixelType, FloatVectorImageType::InternalPixelType>;
  static constexpr double S2Nodata = -10000.0;

  /** An input image and what the grid check needs: the key that gave it and its scale (pixel size / reference's). */
  struct GridImage
  {
    std::string           key;
    FloatVectorImageType* image;
    unsigned int          scale;
  };

  /**
   * Check that the images share the first one's grid (CRS, pixel size x scale, alignment) and crop each to
   * their common extent (in memory), saying so when it is smaller than the first image. Returns the
   * cropped images in the same order. Fails with one line naming the key at fault.
   */
  std::vector<FloatVectorImageType*> OnCommonExtent(const std::vector<GridImage>& images)
  {
    std::vector<decloud::GridInput> grids;
    for (const auto& g : images)
    {
      g.image->UpdateOutputInformation();
      grids.push_back(decloud::GridInput::Of(g.key, g.image, g.scale));
    }
    itk::ImageRegion<2> common;
    try
    {
      common = decloud::CommonRegion(grids);
    }
    catch (const std::exception& e)
    {
      otbAppLogFATAL("" << e.what());
    }
    const auto& reference = images.front().image->GetLargestPossibleRegion();
    if (common.GetIndex(0) != 0 || common.GetIndex(1) != 0 || common.GetSize() != reference.GetSize())
      otbAppLogINFO("The inputs do not share an extent: working on their common extent, " << common.GetSize(0) << "x"
                    << common.GetSize(1) << " pixels of " << images.front().key << " from pixel (" << common.GetIndex(0)
                    << ", " << common.GetIndex(1) << ")");
    std::vector<FloatVectorImageType*> cropped;
    for (size_t i = 0; i < images.size(); ++i)
    {
      const auto region = decloud::RegionOfInput(grids[i], grids.front(), common);
      if (region == images[i].image->GetLargestPossibleRegion())
      {
        cropped.push_back(images[i].image);
        continue;
      }
      ExtractType::Pointer extract = ExtractType::New();
      extract->SetInput(images[i].image);
      extract->SetExtractionRegion(region);
      extract->UpdateOutputInformation();
      m_Keep.push_back(extract.GetPointer());
      cropped.push_back(extract->GetOutput());
    }
    return cropped;
  }

  /** Encoding and COG parameters for the output image parameters `outputKeys` (declared before). */
  void AddEncodingParameters(const std::vector<std::string>& outputKeys)
  {
    m_OutputKeys = outputKeys;
    AddParameter(ParameterType_Choice, "encoding", "Output encoding");
    AddChoice("encoding.s2", "Sentinel-2 encoding: reflectance x 10000 rounded, int16, nodata -10000");
    AddChoice("encoding.float", "float32: reflectance x 10000, not rounded, nodata -10000");
    SetParameterString("encoding", "s2");
    for (const auto& key : outputKeys)
      SetDefaultOutputPixelType(key, ImagePixelType_int16);
    AddParameter(ParameterType_Bool, "cog", "Write a cloud-optimized GeoTIFF with overviews");
    SetParameterDescription("cog", "After writing, the output is converted in place to a COG (DEFLATE, overviews) "
                                   "when the application writes it itself (command line, QGIS)");
  }

  /** True for the int16 S2 encoding; for float, makes the outputs float32 unless another pixel type was asked. */
  bool UseS2Encoding()
  {
    if (GetParameterString("encoding") == "s2")
      return true;
    for (const auto& key : m_OutputKeys)
      if (GetParameterOutputImagePixelType(key) == ImagePixelType_int16)
        SetParameterOutputImagePixelType(key, ImagePixelType_float);
    return false;
  }

  /**
   * GDAL settings for whole scenes, unless the user set them: decode and encode compressed GeoTIFF blocks on
   * all cores (GDAL_NUM_THREADS), and bound GDAL's block cache by the -ram budget (its default, 5 % of the
   * machine's memory, fills with input blocks and dominates the peak memory on large scenes).
   */
  void ConfigureGdal()
  {
    if (!std::getenv("GDAL_NUM_THREADS"))
      CPLSetConfigOption("GDAL_NUM_THREADS", "ALL_CPUS");
    if (!std::getenv("GDAL_CACHEMAX") && HasValue("ram"))
    {
      const GIntBig cache = static_cast<GIntBig>(std::max(64, GetParameterInt("ram"))) * 1024 * 1024;
      if (GDALGetCacheMax64() > cache)
        GDALSetCacheMax64(cache);
    }
  }

  /** Output file name without OTB's extended-filename part. */
  std::string OutputPath(const std::string& key) const
  {
    const std::string name = GetParameterString(key);
    return name.substr(0, name.find('?'));
  }

  /** GeoTIFF outputs are tiled and compressed unless the user gave creation options (call after UseS2Encoding). */
  void UseTiledGeoTIFF()
  {
    for (const auto& key : m_OutputKeys)
    {
      if (!HasValue(key))
        continue;
      const std::string name = GetParameterString(key);
      const std::string path = OutputPath(key);
      const std::string ext = path.size() > 4 ? path.substr(path.find_last_of('.') + 1) : "";
      if ((ext == "tif" || ext == "tiff" || ext == "TIF") && name.find("gdal:co:") == std::string::npos)
      {
        // DEFLATE level 1 after a predictor: measured faster and smaller than the default level 6 alone.
        const auto type = GetParameterOutputImagePixelType(key);
        const bool real = type == ImagePixelType_float || type == ImagePixelType_double;
        SetParameterString(key, name + (name.find('?') == std::string::npos ? "?&" : "&") +
                                  "gdal:co:TILED=YES&gdal:co:COMPRESS=DEFLATE&gdal:co:ZLEVEL=1&gdal:co:PREDICTOR=" +
                                  (real ? "3" : "2") + "&gdal:co:NUM_THREADS=ALL_CPUS&gdal:co:BIGTIFF=IF_SAFER");
      }
    }
  }

  void AfterExecuteAndWriteOutputs() override
  {
    if (!GetParameterInt("cog"))
      return;
    for (const auto& key : m_OutputKeys)
      if (HasValue(key))
        ConvertToCog(OutputPath(key));
  }

  void ConvertToCog(const std::string& path)
  {
    const std::string part = path + ".cog.part.tif";
    otbAppLogINFO("Converting " << path << " to a cloud-optimized GeoTIFF with overviews");
    const char*           options[] = {"-of", "COG", "-co", "COMPRESS=DEFLATE", "-co", "OVERVIEWS=AUTO", "-co", "BIGTIFF=IF_SAFER", nullptr};
    GDALTranslateOptions* translate = GDALTranslateOptionsNew(const_cast<char**>(options), nullptr);
    GDALDatasetH          source = GDALOpen(path.c_str(), GA_ReadOnly);
    int                   failed = 0;
    GDALDatasetH          cog = source ? GDALTranslate(part.c_str(), source, translate, &failed) : nullptr;
    GDALTranslateOptionsFree(translate);
    if (source)
      GDALClose(source);
    if (cog)
      GDALClose(cog);
    if (!cog || failed || std::rename(part.c_str(), path.c_str()) != 0)
    {
      std::remove(part.c_str());
      otbAppLogFATAL("cog: the conversion of " << path << " failed: " << CPLGetLastErrorMsg());
    }
  }

  std::vector<itk::ProcessObject::Pointer> m_Keep;
  std::vector<std::string>                 m_OutputKeys{"out"};
};

} // namespace Wrapper
} // namespace otb

#endif

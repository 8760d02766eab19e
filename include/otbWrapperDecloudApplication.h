/*
 * Decloud: what the Decloud applications share (common extent of the inputs, output encoding, COG, atomic outputs).
 */
#ifndef otbWrapperDecloudApplication_h
#define otbWrapperDecloudApplication_h

#include "otbWrapperApplication.h"

#include "otbDecloudAtomicOutput.h"
#include "otbDecloudDate.h"
#include "otbDecloudGrid.h"
#include "otbDecloudOutputTags.h"
#include "otbImageFileReader.h"
#include "otbMultiChannelExtractROI.h"

#include "cpl_conv.h"
#include "cpl_error.h"
#include "gdal.h"
#include "gdal_utils.h"

#include <itksys/SystemTools.hxx>

#include <algorithm>
#include <cstdlib>
#include <stdexcept>
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

  /** Tags of an output made from dated S2 images: band names (the first image's S2 band descriptions, else
   * B2 B3 B4 B8 for 4 bands) and the date `date` (DecloudGapFilling's t, DecloudComposite's period middle). */
  decloud::OutputTags DatedS2Tags(FloatVectorImageType* first, unsigned int bands, const std::string& date)
  {
    decloud::OutputTags      tags;
    std::vector<std::string> names;
    for (const auto& d : decloud::RasterFacts::Of(decloud::InputFileName(first)).descriptions)
      names.push_back(decloud::S2BandName(d));
    if (names.size() == bands && std::none_of(names.begin(), names.end(), [](const std::string& s) { return s.empty(); }))
      tags.bandNames = names;
    else if (bands == decloud::S2Bands10m().size())
      tags.bandNames = decloud::S2Bands10m();
    tags.Set(decloud::DateItem, date);
    return tags;
  }

  /** Each mask covers its whole image (grid[k], mask grid[n + k]): a smaller one would crop the output. */
  void CheckMasksCoverImages(const std::vector<GridImage>& grid, size_t n)
  {
    for (size_t k = 0; k < n; ++k)
    {
      const auto image = decloud::GridInput::Of(grid[k].key, grid[k].image);
      const auto mask = decloud::GridInput::Of(grid[n + k].key, grid[n + k].image);
      const auto covered = decloud::CommonRegion({image, mask});
      if (covered.GetIndex(0) != 0 || covered.GetIndex(1) != 0 || covered.GetSize(0) != image.size[0] ||
          covered.GetSize(1) != image.size[1])
        otbAppLogFATAL("" << mask.key << ": the mask is " << mask.size[0] << "x" << mask.size[1] << " pixels but "
                          << image.key << " is " << image.size[0] << "x" << image.size[1] << " (the mask covers "
                          << covered.GetSize(0) << "x" << covered.GetSize(1) << " of them): each mask must cover its "
                          "whole image, or the output would be cropped");
    }
  }

  /** The dated S2 images of DecloudGapFilling and DecloudComposite (parameters il, masks, dates, date, nodata,
   * encoding), checked and on their common extent. */
  struct DatedImages
  {
    std::vector<FloatVectorImageType*> images;  // on the common extent, in the order of il
    std::vector<FloatVectorImageType*> masks;   // empty without -masks, else one per image
    std::vector<double>                seconds; // the dates of the images (seconds since 1970, UTC)
    double                             date = 0; // -date
    unsigned int                       bands = 0;
  };

  /** Declares -il (described as `images`), -masks and -dates, which LoadDatedImages reads. */
  void AddDatedImagesParameters(const std::string& images)
  {
    AddParameter(ParameterType_InputImageList, "il", images);
    AddParameter(ParameterType_InputImageList, "masks", "Cloud masks, one per image, in the same order (nonzero = cloudy)");
    MandatoryOff("masks");
    AddParameter(ParameterType_StringList, "dates", "Dates of the images, in the same order (YYYY-MM-DD[THH:MM:SS], UTC)");
  }

  /** Reads and checks -il, -masks, -dates and -date: as many masks and dates as images, dates that parse, a
   * shared grid (worked on the common extent), masks covering their images, the same number of bands, and with
   * the S2 encoding an input type that can hold it. Each failure is one line naming the parameter and input. */
  DatedImages LoadDatedImages()
  {
    FloatVectorImageListType* images = GetParameterImageList("il");
    const auto                dates = GetParameterStringList("dates");
    const size_t              n = images->Size();
    if (n == 0)
      otbAppLogFATAL("il: no image given");
    if (dates.size() != n)
      otbAppLogFATAL("dates: " << dates.size() << " dates for " << n << " images in il (one per image)");
    FloatVectorImageListType* masks = HasValue("masks") ? GetParameterImageList("masks") : nullptr;
    if (masks && masks->Size() != n)
      otbAppLogFATAL("masks: " << masks->Size() << " masks for " << n << " images in il (one per image)");

    DatedImages out;
    for (const auto& d : dates)
      try
      {
        out.seconds.push_back(decloud::ParseDate(d));
      }
      catch (const std::invalid_argument& e)
      {
        otbAppLogFATAL("dates: " << e.what());
      }
    try
    {
      out.date = decloud::ParseDate(GetParameterString("date"));
    }
    catch (const std::invalid_argument& e)
    {
      otbAppLogFATAL("date: " << e.what());
    }

    std::vector<GridImage>         grid;
    const std::vector<std::string> names = GetParameterStringList("il");
    for (unsigned int k = 0; k < n; ++k)
      grid.push_back({"il #" + std::to_string(k + 1) + " (" + names[k] + ")", images->GetNthElement(k), 1});
    if (masks)
    {
      const std::vector<std::string> maskNames = GetParameterStringList("masks");
      for (unsigned int k = 0; k < n; ++k)
        grid.push_back({"masks #" + std::to_string(k + 1) + " (" + maskNames[k] + ")", masks->GetNthElement(k), 1});
    }
    const auto inputs = OnCommonExtent(grid);
    if (masks)
      CheckMasksCoverImages(grid, n);
    if (GetParameterString("encoding") == "s2")
      for (unsigned int k = 0; k < n; ++k)
      {
        const std::string type = InputPixelType(images->GetNthElement(k));
        if (type == "uint8" || type == "int8")
          otbAppLogFATAL("" << grid[k].key << ": the image is " << type << ", which cannot hold the S2 encoding "
                            "(reflectance x 10000, nodata -10000): int16 expected (int32, uint16 or float32 also do); "
                            "prepare it with decloud prepare-s2");
        if (type == "uint16" && GetParameterFloat("nodata") < 0)
          otbAppLogFATAL("" << grid[k].key << ": the image is uint16, which cannot hold the nodata value "
                            << GetParameterFloat("nodata") << ": a raw Sentinel-2 L2A encoding (digital numbers, nodata 0, "
                            "+1000 offset from processing baseline 04.00 on)? prepare it with decloud prepare-s2 "
                            "PRODUCT_OR_STACK --out-dir FOLDER, or give -nodata 0 if its nodata is 0");
      }
    out.bands = inputs.front()->GetNumberOfComponentsPerPixel();
    for (unsigned int k = 1; k < n; ++k)
      if (inputs[k]->GetNumberOfComponentsPerPixel() != out.bands)
        otbAppLogFATAL("il: " << grid[k].key << " has " << inputs[k]->GetNumberOfComponentsPerPixel() << " bands, "
                              << grid[0].key << " " << out.bands);
    out.images.assign(inputs.begin(), inputs.begin() + n);
    if (masks)
      out.masks.assign(inputs.begin() + n, inputs.end());
    return out;
  }

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

  /**
   * Pixel type of the file that `image` is read from ("uint8", "int16", "float"...), following the pipeline up to
   * its reader (through in-memory crops); "" when it is not known (an image computed in memory).
   */
  static std::string InputPixelType(FloatVectorImageType* image)
  {
    itk::DataObject* data = image;
    for (int depth = 0; data && depth < 16; ++depth)
    {
      itk::ProcessObject* source = data->GetSource();
      if (!source)
        return "";
      if (auto* reader = dynamic_cast<ImageFileReader<FloatVectorImageType>*>(source))
      {
        reader->UpdateOutputInformation();
        const ImageIOBase* io = reader->GetImageIO();
        if (!io)
          return "";
        switch (io->GetComponentType())
        {
        case ImageIOBase::UCHAR:
          return "uint8";
        case ImageIOBase::CHAR:
          return "int8";
        case ImageIOBase::USHORT:
          return "uint16";
        case ImageIOBase::SHORT:
          return "int16";
        case ImageIOBase::UINT:
          return "uint32";
        case ImageIOBase::INT:
          return "int32";
        case ImageIOBase::FLOAT:
          return "float32";
        case ImageIOBase::DOUBLE:
          return "float64";
        default:
          return ImageIOBase::GetComponentTypeAsString(io->GetComponentType());
        }
      }
      data = source->GetNumberOfIndexedInputs() > 0 ? source->GetInputs().front().GetPointer() : nullptr;
    }
    return "";
  }

  /**
   * optim.intraop and optim.interop, TensorFlow's thread counts, for the apps that run a SavedModel (read by
   * decloud::SessionOptionsOf, otbDecloudModelSession.h).
   */
  void AddSessionThreadParameters()
  {
    AddParameter(ParameterType_Int, "optim.intraop", "TensorFlow threads inside one operation (0: TensorFlow's choice)");
    SetDefaultParameterInt("optim.intraop", 0);
    SetMinimumParameterIntValue("optim.intraop", 0);
    AddParameter(ParameterType_Int, "optim.interop", "TensorFlow operations run in parallel (0: TensorFlow's choice)");
    SetDefaultParameterInt("optim.interop", 0);
    SetMinimumParameterIntValue("optim.interop", 0);
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
    m_HasCog = true;
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

  /** True when the application declares parameter `key`. */
  bool HasKey(const std::string& key)
  {
    const auto keys = GetParametersKeys(true);
    return std::find(keys.begin(), keys.end(), key) != keys.end();
  }

  /** The files given to the input parameters (images, lists, file names), each with its key ("il #2" in a list). */
  std::vector<std::pair<std::string, std::string>> InputFiles()
  {
    std::vector<std::pair<std::string, std::string>> files;
    for (const auto& key : GetParametersKeys(true))
    {
      if (!IsParameterEnabled(key) || !HasValue(key))
        continue;
      const auto type = GetParameterType(key);
      if (type == ParameterType_InputImage || type == ParameterType_InputFilename || type == ParameterType_InputVectorData)
        files.emplace_back(key, GetParameterString(key).substr(0, GetParameterString(key).find('?')));
      else if (type == ParameterType_InputImageList || type == ParameterType_InputFilenameList ||
               type == ParameterType_InputVectorDataList)
      {
        const auto names = GetParameterStringList(key);
        for (size_t k = 0; k < names.size(); ++k)
          files.emplace_back(names.size() > 1 ? key + " #" + std::to_string(k + 1) : key, names[k].substr(0, names[k].find('?')));
      }
    }
    return files;
  }

  /** The file that output parameter `key` names (OTB's rule: ".tif" added when it has no extension). */
  std::string OutputTarget(const std::string& key)
  {
    std::string path;
    try
    {
      path = decloud::OutputName::Parse(GetParameterString(key)).path;
    }
    catch (const std::invalid_argument& e)
    {
      otbAppLogFATAL("" << key << ": " << e.what());
    }
    const std::string name = path.substr(path.find_last_of('/') + 1);
    if (name.find('.') == std::string::npos || name.find_last_of('.') == 0)
      path += ".tif";
    return path;
  }

  /**
   * Call first in DoExecute, before anything runs. Refuses output names that would be written elsewhere (a '?'
   * that does not start OTB's extended-filename options) and outputs that are one of the inputs (the same file,
   * also through symbolic or hard links) or another output; `extra` adds outputs that are not output image
   * parameters (key, path). In OTB's command-line launcher, SIGINT / SIGTERM then stop the application with
   * status 130 / 143 and remove its temporary files.
   */
  void CheckOutputs(const std::vector<std::pair<std::string, std::string>>& extra = {})
  {
    m_WroteOutputs = false;
    if (decloud::InCommandLineLauncher())
      decloud::ExitCleanlyOnSignals(GetName());
    std::vector<std::pair<std::string, std::string>> outputs;
    for (const auto& key : m_OutputKeys)
      if (IsParameterEnabled(key) && HasValue(key))
        outputs.emplace_back(key, OutputTarget(key));
    outputs.insert(outputs.end(), extra.begin(), extra.end());
    const auto inputs = InputFiles();
    for (size_t i = 0; i < outputs.size(); ++i)
    {
      const auto& out = outputs[i];
      for (const auto& in : inputs)
        if (decloud::SameFile(out.second, in.second))
          otbAppLogFATAL("" << out.first << ": the output " << out.second << " is the input " << in.first << " (" << in.second
                            << "): writing it would destroy that input; choose another output file");
      for (size_t j = 0; j < i; ++j)
        if (decloud::SameFile(out.second, outputs[j].second) ||
            decloud::AbsolutePath(out.second) == decloud::AbsolutePath(outputs[j].second))
          otbAppLogFATAL("" << out.first << ": the output " << out.second << " is also the output " << outputs[j].first
                            << "; choose another output file");
    }
  }

  /**
   * Call last in DoExecute. In OTB's command-line launcher (otbcli, QGIS), writes the output image parameters now,
   * atomically: each to a temporary file beside it (.<name>.<pid>.tmp.<ext>), converted to a COG when asked, and
   * renamed over its path only when every output is complete and GDAL reported no error. On any failure: one FATAL
   * line naming the output and the cause, the temporary files removed, the files at the output paths untouched.
   * Band names that the output image carries in its OTB metadata (DecloudTagsFilter) become GDAL band
   * descriptions of the temporary file before its rename (decloud::DescribeBands).
   * The parameters are then disabled so that OTB does not write them again. Used from Python (pyotb, the OTB
   * bindings) it does nothing: the caller writes the outputs (the Decloud Python package does so atomically).
   */
  void WriteOutputs()
  {
    if (!decloud::InCommandLineLauncher())
      return;
    const unsigned int       ram = HasKey("ram") ? static_cast<unsigned int>(std::max(0, GetParameterInt("ram"))) : 0;
    decloud::AtomicOutputs   files;
    std::vector<std::string> written;
    for (const auto& key : m_OutputKeys)
    {
      if (!IsParameterEnabled(key) || !HasValue(key))
        continue;
      const std::string target = OutputTarget(key);
      const std::string options = decloud::OutputName::Parse(GetParameterString(key)).options;
      auto*             image = dynamic_cast<FloatVectorImageType*>(GetParameterOutputImage(key));
      if (!image)
        otbAppLogFATAL("" << key << ": the application has no image for this output");
      const std::string temporary = files.Add(target);
      try
      {
        decloud::WriteImage(image, temporary + options, GetParameterOutputImagePixelType(key), ram,
                            [&](itk::ProcessObject* writer) { AddProcess(writer, "Writing " + target + "..."); });
        // Band names (written by OTB as items) as GDAL band descriptions.
        if (!decloud::DescribeBands(temporary))
          otbAppLogWARNING("" << key << ": the format of " << target << " has no band descriptions: band names are "
                              "left as BandName metadata items");
        if (m_HasCog && GetParameterInt("cog"))
        {
          otbAppLogINFO("Converting " << target << " to a cloud-optimized GeoTIFF with overviews");
          const std::string cog = files.Next(target, "cog");
          decloud::TranslateToCog(temporary, cog);
          files.Replace(target, cog);
        }
      }
      catch (const std::exception& e)
      {
        otbAppLogFATAL("" << key << ": " << target << " was not written (" << Untouched(target) << "): " << OneLine(e.what()));
      }
      written.push_back(key);
    }
    try
    {
      files.Commit();
    }
    catch (const std::exception& e)
    {
      otbAppLogFATAL("" << OneLine(e.what()));
    }
    for (const auto& key : written)
    {
      otbAppLogINFO("Wrote " << OutputTarget(key));
      DisableParameter(key);
    }
    m_WroteOutputs = true;
  }

  /** What a failed write left at `target`. */
  static std::string Untouched(const std::string& target)
  {
    return itksys::SystemTools::FileExists(target) ? "the file already there is unchanged" : "no file was created there";
  }

  static std::string OneLine(std::string text)
  {
    std::replace(text.begin(), text.end(), '\n', ' ');
    return text.substr(0, text.find_last_not_of(' ') + 1);
  }

  /** For OTB's own writing (the Python bindings' ExecuteAndWriteOutput): the COG conversion, atomic. */
  void AfterExecuteAndWriteOutputs() override
  {
    if (m_WroteOutputs || !m_HasCog || !GetParameterInt("cog"))
      return;
    for (const auto& key : m_OutputKeys)
      if (IsParameterEnabled(key) && HasValue(key))
        ConvertToCog(OutputPath(key));
  }

  void ConvertToCog(const std::string& path)
  {
    otbAppLogINFO("Converting " << path << " to a cloud-optimized GeoTIFF with overviews");
    decloud::AtomicOutputs files;
    try
    {
      decloud::TranslateToCog(path, files.Add(path));
      files.Commit();
    }
    catch (const std::exception& e)
    {
      otbAppLogFATAL("cog: the conversion of " << path << " failed: " << OneLine(e.what()));
    }
  }

  std::vector<itk::ProcessObject::Pointer> m_Keep;
  std::vector<std::string>                 m_OutputKeys{"out"}; // the output image parameters
  bool                                     m_HasCog = false;     // AddEncodingParameters declared "cog"
  bool                                     m_WroteOutputs = false;
};

} // namespace Wrapper
} // namespace otb

#endif

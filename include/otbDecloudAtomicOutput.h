/*
 * Decloud: atomic outputs for the applications. An output is written under a temporary name beside it and
 * renamed over it only once it is complete, so that the file at the output path is always either the
 * previous one or a whole new one.
 */
#ifndef otbDecloudAtomicOutput_h
#define otbDecloudAtomicOutput_h

#include "OTBDecloudExport.h"

#include "itkProcessObject.h"
#include "otbWrapperTypes.h"

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace otb
{
namespace decloud
{

/**
 * True when this process is OTB's command-line launcher (otbcli_<App>, otbcli, otbApplicationLauncherCommandLine,
 * which QGIS's OTB provider runs too). There the applications write their outputs themselves, atomically; used
 * from Python (pyotb, the OTB bindings) they leave the writing to the caller, as OTB applications do.
 */
OTBDecloud_EXPORT bool InCommandLineLauncher();

/**
 * An output name: the path written and OTB's extended-filename options ("o.tif?&gdal:co:TILED=YES": path
 * "o.tif", options "?&gdal:co:TILED=YES"), which stay attached to whatever name is written.
 */
struct OTBDecloud_EXPORT OutputName
{
  std::string path;
  std::string options; // "" or starting with '?'

  /**
   * Throws std::invalid_argument when the name is empty or has a '?' that does not start extended-filename
   * options ("a?b.tif": OTB would write a file "a"): such a name would be written elsewhere than asked.
   */
  static OutputName Parse(const std::string& name);
};

/**
 * A file name beside `path` (same folder, so that a rename is atomic) that no other process uses and that keeps
 * the extension (it selects the GDAL driver): <folder>/.<stem>.<pid>.<tag><extension>, e.g. ".out.4242.tmp.tif".
 * A killed run (kill -9) can leave such a file behind: it can be deleted.
 */
OTBDecloud_EXPORT std::string TemporaryPathBeside(const std::string& path, const std::string& tag = "tmp");

/** True when both paths exist and are the same file (same device and inode: also through symbolic and hard links). */
OTBDecloud_EXPORT bool SameFile(const std::string& a, const std::string& b);

/** Absolute path with "." and ".." resolved (not symbolic links), to compare names that do not exist yet. */
OTBDecloud_EXPORT std::string AbsolutePath(const std::string& path);

/**
 * From now on, SIGINT, SIGTERM and SIGHUP end the process at once with status 128 + signal (130, 143, 129) after
 * removing the temporary files of the AtomicOutputs alive, and printing one line "(FATAL) <app>: interrupted by
 * SIGINT ...". For the command-line launcher only: it replaces the process's handlers (Python keeps its own).
 */
OTBDecloud_EXPORT void ExitCleanlyOnSignals(const std::string& application);

/**
 * Outputs written under temporary names and renamed over their targets together by Commit(). Temporary files are
 * removed when the object dies uncommitted (an exception), on the signals above and at process exit.
 */
class OTBDecloud_EXPORT AtomicOutputs
{
public:
  AtomicOutputs() = default;
  ~AtomicOutputs();
  AtomicOutputs(const AtomicOutputs&) = delete;
  AtomicOutputs& operator=(const AtomicOutputs&) = delete;

  /** Registers `target` (before anything is created) and returns the temporary path to write instead. */
  std::string Add(const std::string& target);

  /**
   * A new temporary path for `target` (tag e.g. "cog"), registered; the previous temporary of `target` is removed
   * when Replace() is called with the new one written. Returns the new path.
   */
  std::string Next(const std::string& target, const std::string& tag);
  /** `target`'s temporary is now the one Next() gave; the former one is removed. */
  void Replace(const std::string& target, const std::string& temporary);

  /** The temporary path of `target`. */
  const std::string& Temporary(const std::string& target) const;

  /** Renames every temporary file over its target; throws std::runtime_error naming the target that failed. */
  void Commit();

  /** Removes the temporary files (done by the destructor too). */
  void Discard();

private:
  struct Entry
  {
    std::string target;
    std::string temporary;
    std::string next;
  };
  Entry&             Find(const std::string& target);
  std::vector<Entry> m_Entries;
};

/**
 * While alive, records the GDAL errors (CE_Failure and worse) of every thread instead of printing them: GDAL
 * reports some write errors only this way (a full disk while flushing its block cache or closing a dataset).
 * Warnings still go to the previous handler. Not nestable.
 */
class OTBDecloud_EXPORT GdalErrorTrap
{
public:
  GdalErrorTrap();
  ~GdalErrorTrap();
  GdalErrorTrap(const GdalErrorTrap&) = delete;
  GdalErrorTrap& operator=(const GdalErrorTrap&) = delete;

  bool        Failed() const;
  std::string FirstError() const; // the first error's message (usually the cause; later ones follow from it)

  struct State;

private:
  std::unique_ptr<State> m_State;
};

/**
 * Writes `image` to `fileName` (OTB extended-filename options allowed) as `type`, clamped as OTB's own output
 * parameters do, streamed within `ram` MB (0: OTB's default), then closes the file. `watch` is given the writer
 * before it runs (progress reports). Throws std::runtime_error with the cause when anything fails, including GDAL
 * errors reported only through CPLError and errors when the dataset is closed.
 */
OTBDecloud_EXPORT void WriteImage(Wrapper::FloatVectorImageType* image, const std::string& fileName, Wrapper::ImagePixelType type,
                                  unsigned int ram, const std::function<void(itk::ProcessObject*)>& watch);

/** Converts the GeoTIFF `source` to a cloud-optimized GeoTIFF `destination` (DEFLATE, overviews); throws on failure. */
OTBDecloud_EXPORT void TranslateToCog(const std::string& source, const std::string& destination);

} // namespace decloud
} // namespace otb

#endif

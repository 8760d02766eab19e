#include "otbDecloudAtomicOutput.h"

#include "otbClampImageFilter.h"
#include "otbDecloudExceptionMessage.h"
#include "otbImageFileWriter.h"
#include "otbVectorImage.h"

#include <itksys/SystemTools.hxx>

#include "cpl_conv.h"
#include "cpl_error.h"
#include "gdal.h"
#include "gdal_utils.h"

#include <atomic>
#include <cerrno>
#include <climits>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <mutex>
#include <stdexcept>
#include <sys/stat.h>
#include <unistd.h>

namespace otb
{
namespace decloud
{
namespace
{
// ---------------------------------------------------------------------------------------------------------------
// Temporary files that a signal handler may remove: fixed storage, a lock-free flag per slot (async-signal-safe).
constexpr int MaxTemporaries = 64;
struct Slot
{
  std::atomic<int> used{0};
  char             path[PATH_MAX];
};
Slot       g_Slots[MaxTemporaries];
std::mutex g_SlotsMutex;

void Register(const std::string& path)
{
  std::lock_guard<std::mutex> lock(g_SlotsMutex);
  if (path.size() >= PATH_MAX)
    return; // still removed by its AtomicOutputs, only not on a signal
  for (Slot& slot : g_Slots)
    if (!slot.used.load())
    {
      std::memcpy(slot.path, path.c_str(), path.size() + 1);
      slot.used.store(1);
      return;
    }
}

void Unregister(const std::string& path)
{
  std::lock_guard<std::mutex> lock(g_SlotsMutex);
  for (Slot& slot : g_Slots)
    if (slot.used.load() && path == slot.path)
    {
      slot.used.store(0);
      return;
    }
}

/** At process exit (a return from main after a failure, std::exit), the temporary files still registered go. */
struct RemoveAtExit
{
  ~RemoveAtExit()
  {
    for (Slot& slot : g_Slots)
      if (slot.used.load())
        ::unlink(slot.path);
  }
} g_RemoveAtExit;

char   g_SignalMessage[512];
size_t g_SignalMessageLength = 0;

void WriteAll(const char* text, size_t length)
{
  while (length > 0)
  {
    const ssize_t n = ::write(STDERR_FILENO, text, length);
    if (n <= 0)
      return;
    text += n;
    length -= static_cast<size_t>(n);
  }
}

extern "C" void OnSignal(int signal)
{
  for (Slot& slot : g_Slots)
    if (slot.used.load())
      ::unlink(slot.path);
  const char* name = signal == SIGINT ? "SIGINT" : signal == SIGTERM ? "SIGTERM" : "SIGHUP";
  static const char head[] = "(FATAL) ";
  WriteAll(head, sizeof(head) - 1);
  WriteAll(g_SignalMessage, g_SignalMessageLength);
  WriteAll(name, std::strlen(name));
  static const char tail[] = ": stopped; nothing was written at the output path (temporary files removed)\n";
  WriteAll(tail, sizeof(tail) - 1);
  ::_exit(128 + signal);
}

void RemoveFile(const std::string& path)
{
  if (!path.empty())
  {
    Unregister(path);
    ::unlink(path.c_str());
  }
}

/** fsync a file or folder (durability of a rename); errors ignored: the data is written, only not yet synced. */
void Sync(const std::string& path, bool folder)
{
  const int fd = ::open(path.c_str(), folder ? (O_RDONLY | O_DIRECTORY) : O_RDONLY);
  if (fd >= 0)
  {
    ::fsync(fd);
    ::close(fd);
  }
}

std::string Folder(const std::string& path)
{
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
}

// ---------------------------------------------------------------------------------------------------------------
// GDAL error trap: one at a time, process-wide (GDAL's global handler serves every thread).
std::mutex g_TrapMutex;
GdalErrorTrap::State* g_Trap = nullptr;

} // namespace

struct GdalErrorTrap::State
{
  mutable std::mutex mutex;
  bool               failed = false;
  std::string        first;
  CPLErrorHandler    previous = nullptr;
};

namespace
{
void CPL_STDCALL TrapHandler(CPLErr level, CPLErrorNum number, const char* message)
{
  GdalErrorTrap::State* trap = nullptr;
  CPLErrorHandler       previous = nullptr;
  {
    std::lock_guard<std::mutex> lock(g_TrapMutex);
    trap = g_Trap;
    previous = trap ? trap->previous : nullptr;
  }
  if (trap && level >= CE_Failure)
  {
    std::lock_guard<std::mutex> lock(trap->mutex);
    if (!trap->failed)
      trap->first = message ? message : "GDAL error";
    trap->failed = true;
    return;
  }
  (previous ? previous : CPLDefaultErrorHandler)(level, number, message);
}
} // namespace

GdalErrorTrap::GdalErrorTrap() : m_State(new State)
{
  std::lock_guard<std::mutex> lock(g_TrapMutex);
  m_State->previous = CPLSetErrorHandlerEx(TrapHandler, nullptr);
  g_Trap = m_State.get();
}

GdalErrorTrap::~GdalErrorTrap()
{
  std::lock_guard<std::mutex> lock(g_TrapMutex);
  CPLSetErrorHandlerEx(m_State->previous, nullptr);
  g_Trap = nullptr;
}

bool GdalErrorTrap::Failed() const
{
  std::lock_guard<std::mutex> lock(m_State->mutex);
  return m_State->failed;
}

std::string GdalErrorTrap::FirstError() const
{
  std::lock_guard<std::mutex> lock(m_State->mutex);
  return m_State->first;
}

// -------------------------------------------------------------------------------------------------------------------

bool InCommandLineLauncher()
{
  static const bool launcher = [] {
    char    buffer[PATH_MAX];
    const ssize_t n = ::readlink("/proc/self/exe", buffer, sizeof(buffer) - 1);
    if (n <= 0)
      return false;
    buffer[n] = '\0';
    const char* slash = std::strrchr(buffer, '/');
    return std::strcmp(slash ? slash + 1 : buffer, "otbApplicationLauncherCommandLine") == 0;
  }();
  return launcher;
}

OutputName OutputName::Parse(const std::string& name)
{
  OutputName out;
  const size_t q = name.find('?');
  out.path = name.substr(0, q);
  if (out.path.empty())
    throw std::invalid_argument("'" + name + "' is not a file name");
  if (q == std::string::npos)
    return out;
  out.options = name.substr(q);
  // OTB's extended filename: path?&key=value&key=value; anything else after '?' is part of the name the user meant.
  bool         valid = true;
  unsigned int keys = 0;
  size_t       start = q + 1;
  while (start <= name.size())
  {
    const size_t end = std::min(name.find('&', start), name.size());
    const std::string token = name.substr(start, end - start);
    if (!token.empty())
    {
      const size_t equal = token.find('=');
      if (equal == std::string::npos || equal == 0 || token.find('?') != std::string::npos)
        valid = false;
      ++keys;
    }
    start = end + 1;
  }
  if (!valid || keys == 0)
    throw std::invalid_argument("'" + name + "' has a '?' that does not start OTB extended-filename options "
                                "(name.tif?&key=value): the image would be written to '" + out.path +
                                "'; choose a name without '?'");
  return out;
}

std::string TemporaryPathBeside(const std::string& path, const std::string& tag)
{
  const size_t      slash = path.find_last_of('/');
  const std::string folder = slash == std::string::npos ? "" : path.substr(0, slash + 1);
  const std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  const size_t      dot = name.find_last_of('.');
  const bool        hasExtension = dot != std::string::npos && dot > 0;
  const std::string stem = hasExtension ? name.substr(0, dot) : name;
  const std::string extension = hasExtension ? name.substr(dot) : "";
  return folder + "." + stem + "." + std::to_string(::getpid()) + "." + tag + extension;
}

bool SameFile(const std::string& a, const std::string& b)
{
  struct stat sa, sb;
  if (::stat(a.c_str(), &sa) != 0 || ::stat(b.c_str(), &sb) != 0)
    return false;
  return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

std::string AbsolutePath(const std::string& path)
{
  return itksys::SystemTools::CollapseFullPath(path);
}

void ExitCleanlyOnSignals(const std::string& application)
{
  const std::string message = application + ": interrupted by ";
  g_SignalMessageLength = std::min(message.size(), sizeof(g_SignalMessage) - 1);
  std::memcpy(g_SignalMessage, message.c_str(), g_SignalMessageLength);
  struct sigaction action;
  std::memset(&action, 0, sizeof(action));
  action.sa_handler = OnSignal;
  sigfillset(&action.sa_mask);
  for (int signal : {SIGINT, SIGTERM, SIGHUP})
    ::sigaction(signal, &action, nullptr);
  // A file-size limit (ulimit -f) makes writes fail (EFBIG), reported as a write error, instead of killing the
  // process and leaving a temporary file.
  std::signal(SIGXFSZ, SIG_IGN);
}

// -------------------------------------------------------------------------------------------------------------------

AtomicOutputs::~AtomicOutputs()
{
  Discard();
}

std::string AtomicOutputs::Add(const std::string& target)
{
  Entry entry;
  entry.target = target;
  entry.temporary = TemporaryPathBeside(target);
  Register(entry.temporary);
  ::unlink(entry.temporary.c_str()); // a leftover of a killed process that had the same pid
  m_Entries.push_back(entry);
  return m_Entries.back().temporary;
}

AtomicOutputs::Entry& AtomicOutputs::Find(const std::string& target)
{
  for (Entry& e : m_Entries)
    if (e.target == target)
      return e;
  throw std::logic_error("AtomicOutputs: unknown target " + target);
}

const std::string& AtomicOutputs::Temporary(const std::string& target) const
{
  return const_cast<AtomicOutputs*>(this)->Find(target).temporary;
}

std::string AtomicOutputs::Next(const std::string& target, const std::string& tag)
{
  Entry& entry = Find(target);
  RemoveFile(entry.next);
  entry.next = TemporaryPathBeside(target, tag);
  Register(entry.next);
  ::unlink(entry.next.c_str());
  return entry.next;
}

void AtomicOutputs::Replace(const std::string& target, const std::string& temporary)
{
  Entry& entry = Find(target);
  if (temporary != entry.next)
    throw std::logic_error("AtomicOutputs: " + temporary + " was not given by Next()");
  RemoveFile(entry.temporary);
  entry.temporary = entry.next;
  entry.next.clear();
}

void AtomicOutputs::Commit()
{
  for (Entry& e : m_Entries)
    Sync(e.temporary, false);
  while (!m_Entries.empty())
  {
    Entry& e = m_Entries.front();
    if (std::rename(e.temporary.c_str(), e.target.c_str()) != 0)
    {
      const std::string error = std::strerror(errno);
      throw std::runtime_error(e.target + ": the finished image could not be renamed from " + e.temporary + " (" +
                               error + ")");
    }
    Unregister(e.temporary);
    RemoveFile(e.next);
    Sync(Folder(e.target), true);
    m_Entries.erase(m_Entries.begin());
  }
}

void AtomicOutputs::Discard()
{
  for (Entry& e : m_Entries)
  {
    RemoveFile(e.temporary);
    RemoveFile(e.next);
  }
  m_Entries.clear();
}

// -------------------------------------------------------------------------------------------------------------------

namespace
{
using Wrapper::FloatVectorImageType;

template <class TOutputImage>
TOutputImage* Cast(FloatVectorImageType* image, itk::ProcessObject::Pointer& keep)
{
  auto clamp = ClampImageFilter<FloatVectorImageType, TOutputImage>::New();
  clamp->SetInput(image);
  keep = clamp.GetPointer();
  return clamp->GetOutput();
}

template <>
FloatVectorImageType* Cast<FloatVectorImageType>(FloatVectorImageType* image, itk::ProcessObject::Pointer&)
{
  return image;
}

/** A GDAL dataset still open on `path` (none once the writer has let its file go). */
GDALDatasetH OpenDataset(const std::string& path)
{
  GDALDatasetH* datasets = nullptr;
  int           count = 0;
  GDALGetOpenDatasets(&datasets, &count);
  for (int i = 0; i < count; ++i)
    if (path == GDALGetDescription(datasets[i]))
      return datasets[i];
  return nullptr;
}

template <class TPixel>
void WriteAs(FloatVectorImageType* image, const std::string& fileName, unsigned int ram,
             const std::function<void(itk::ProcessObject*)>& watch)
{
  using OutputImageType = otb::VectorImage<TPixel, 2>;
  using WriterType = otb::ImageFileWriter<OutputImageType>;
  itk::ProcessObject::Pointer keep;
  auto                        writer = WriterType::New();
  writer->SetFileName(fileName);
  writer->SetInput(Cast<OutputImageType>(image, keep));
  writer->GetStreamingManager()->SetDefaultRAM(ram);
  if (watch)
    watch(writer);
  const std::string path = OutputName::Parse(fileName).path;
  std::string       error;
  GdalErrorTrap     trap;
  try
  {
    writer->Update();
  }
  catch (const itk::ExceptionObject& e)
  {
    error = ExceptionMessage(e);
  }
  catch (const std::exception& e)
  {
    error = e.what();
  }
  // Let the file go now (the writer may outlive this function in progress watchers): the GDAL dataset is
  // closed, which writes what is left (the last blocks, the TIFF directory), and a failure there is caught too.
  writer->SetFileName(fileName);
  if (GDALDatasetH still = OpenDataset(path))
    GDALFlushCache(still);
  // The exception names the file (input or output) and the operation, GDAL's first error the cause; a message
  // from another thread (GDAL decodes and encodes blocks in worker threads) is only in the trap.
  while (!error.empty() && (error.back() == ' ' || error.back() == ':' || error.back() == '.'))
    error.pop_back();
  if (trap.Failed())
  {
    const std::string first = trap.FirstError();
    if (error.empty())
      error = first;
    else if (error.find(first) == std::string::npos)
      error += ": " + first;
  }
  if (!error.empty())
    throw std::runtime_error(error);
}
} // namespace

void WriteImage(Wrapper::FloatVectorImageType* image, const std::string& fileName, Wrapper::ImagePixelType type,
                unsigned int ram, const std::function<void(itk::ProcessObject*)>& watch)
{
  switch (type)
  {
  case Wrapper::ImagePixelType_uint8:
    return WriteAs<unsigned char>(image, fileName, ram, watch);
  case Wrapper::ImagePixelType_int16:
    return WriteAs<short>(image, fileName, ram, watch);
  case Wrapper::ImagePixelType_uint16:
    return WriteAs<unsigned short>(image, fileName, ram, watch);
  case Wrapper::ImagePixelType_int32:
    return WriteAs<int>(image, fileName, ram, watch);
  case Wrapper::ImagePixelType_uint32:
    return WriteAs<unsigned int>(image, fileName, ram, watch);
  case Wrapper::ImagePixelType_float:
    return WriteAs<float>(image, fileName, ram, watch);
  case Wrapper::ImagePixelType_double:
    return WriteAs<double>(image, fileName, ram, watch);
  default:
    throw std::runtime_error("complex pixel types are not supported for this output");
  }
}

void TranslateToCog(const std::string& source, const std::string& destination)
{
  GdalErrorTrap         trap;
  const char*           options[] = {"-of", "COG", "-co", "COMPRESS=DEFLATE", "-co", "OVERVIEWS=AUTO", "-co", "BIGTIFF=IF_SAFER", nullptr};
  GDALTranslateOptions* translate = GDALTranslateOptionsNew(const_cast<char**>(options), nullptr);
  GDALDatasetH          input = GDALOpen(source.c_str(), GA_ReadOnly);
  int                   usageError = 0;
  GDALDatasetH          cog = input ? GDALTranslate(destination.c_str(), input, translate, &usageError) : nullptr;
  GDALTranslateOptionsFree(translate);
  if (cog)
    GDALClose(cog);
  if (input)
    GDALClose(input);
  if (!cog || usageError || trap.Failed())
    throw std::runtime_error("the conversion to a cloud-optimized GeoTIFF failed: " +
                             (trap.Failed() ? trap.FirstError() : std::string("GDAL gave no reason")));
}

} // namespace decloud
} // namespace otb

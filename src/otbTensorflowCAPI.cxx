#include "otbTensorflowCAPI.h"

#include <algorithm>
#include <dlfcn.h>
#include <iostream>
#include <new>
#include <unistd.h>
#include <type_traits>
#include <cctype>
#include <cstring>
#include <regex>
#include <sstream>
#include <stdexcept>

namespace otb
{
namespace tf
{

namespace
{
// RTLD_DEEPBIND makes TensorFlow look up its symbols in its own libraries first, which is what saves the second of
// dynamic linking (see CApi in the header). Its known trap: data that the executable holds by COPY relocation. An
// executable that names std::cerr (otbApplicationLauncherCommandLine does) gets its own copy of the object, which
// libstdc++ constructs and everyone uses; a deep-bound TensorFlow would bind to libstdc++'s original, never
// constructed, and crash on its first write to std::cerr (checked on a toy library: SIGSEGV). So:
//  - libstdc++'s original cout / cerr / clog, where they are not the process's ones, are constructed on the process's
//    stream buffers before TensorFlow is loaded (what TensorFlow writes there goes where the process's streams go);
//  - where the executable holds a copy of libc's `environ` (python3 does), which libc's setenv updates and its
//    original does not, TensorFlow is loaded without RTLD_DEEPBIND (slower to load, nothing stale).
bool DeepBindIsSafe()
{
  void* libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
  const void* own = libc ? dlsym(libc, "environ") : nullptr;
  return own == static_cast<const void*>(&environ);
}

void AdoptStream(void* libstdcxx, const char* symbol, std::ostream& stream)
{
  void* own = libstdcxx ? dlsym(libstdcxx, symbol) : nullptr;
  if (own && own != static_cast<void*>(&stream))
    new (own) std::ostream(stream.rdbuf()); // libstdc++'s raw storage for the object (as std::ios_base::Init does)
}

void AdoptStandardStreams()
{
  void* libstdcxx = dlopen("libstdc++.so.6", RTLD_NOW | RTLD_NOLOAD);
  AdoptStream(libstdcxx, "_ZSt4cout", std::cout);
  AdoptStream(libstdcxx, "_ZSt4cerr", std::cerr);
  AdoptStream(libstdcxx, "_ZSt4clog", std::clog);
}

// Load TensorFlow's C library and resolve the functions the engine calls (see CApi in the header).
CApi LoadCApi()
{
  const bool deep = DeepBindIsSafe();
  if (deep)
    AdoptStandardStreams();
#ifdef DECLOUD_TENSORFLOW_LIBRARY
  const std::vector<std::string> candidates{DECLOUD_TENSORFLOW_LIBRARY, "libtensorflow_cc.so.2"};
#else
  const std::vector<std::string> candidates{"libtensorflow_cc.so.2"};
#endif
  void*       handle = nullptr;
  std::string errors;
  for (const auto& path : candidates)
  {
    handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | (deep ? RTLD_DEEPBIND : 0));
    if (handle)
      break;
    const char* why = dlerror();
    errors += (errors.empty() ? "" : "; ") + std::string(why ? why : path);
  }
  if (!handle)
    throw std::runtime_error("cannot load TensorFlow's C library (the module's TensorFlow was moved or removed? "
                             "re-run ./dev.sh setup): " + errors);
  CApi api{};
  auto resolve = [handle](auto& function, const char* name) {
    void* symbol = dlsym(handle, name);
    if (!symbol)
      throw std::runtime_error(std::string("TensorFlow's C library has no ") + name + " (an incompatible version?)");
    function = reinterpret_cast<std::remove_reference_t<decltype(function)>>(symbol);
  };
  resolve(api.AllocateTensor, "TF_AllocateTensor");
  resolve(api.CloseSession, "TF_CloseSession");
  resolve(api.DataTypeSize, "TF_DataTypeSize");
  resolve(api.DeleteBuffer, "TF_DeleteBuffer");
  resolve(api.DeleteGraph, "TF_DeleteGraph");
  resolve(api.DeleteSession, "TF_DeleteSession");
  resolve(api.DeleteSessionOptions, "TF_DeleteSessionOptions");
  resolve(api.DeleteStatus, "TF_DeleteStatus");
  resolve(api.DeleteTensor, "TF_DeleteTensor");
  resolve(api.Dim, "TF_Dim");
  resolve(api.GetCode, "TF_GetCode");
  resolve(api.GraphOperationByName, "TF_GraphOperationByName");
  resolve(api.LoadSessionFromSavedModel, "TF_LoadSessionFromSavedModel");
  resolve(api.Message, "TF_Message");
  resolve(api.NewBuffer, "TF_NewBuffer");
  resolve(api.NewGraph, "TF_NewGraph");
  resolve(api.NewSessionOptions, "TF_NewSessionOptions");
  resolve(api.NewStatus, "TF_NewStatus");
  resolve(api.NumDims, "TF_NumDims");
  resolve(api.SessionRun, "TF_SessionRun");
  resolve(api.SetConfig, "TF_SetConfig");
  resolve(api.TensorData, "TF_TensorData");
  resolve(api.TensorElementCount, "TF_TensorElementCount");
  resolve(api.TensorType, "TF_TensorType");
  return api;
}
} // namespace

const CApi& C()
{
  static const CApi api = LoadCApi();  // thread-safe, once; never unloaded (sessions may outlive main's locals)
  return api;
}

namespace
{

// ---------------------------------------------------------------------------------------------
// Minimal protobuf wire-format reader (varints and length-delimited fields are all we need).
// ---------------------------------------------------------------------------------------------
class WireReader
{
public:
  WireReader(const uint8_t* data, size_t size) : m_Pos(data), m_End(data + size) {}

  bool AtEnd() const { return m_Pos >= m_End; }

  uint64_t Varint()
  {
    uint64_t value = 0;
    for (int shift = 0; shift < 64; shift += 7)
    {
      if (m_Pos >= m_End)
        throw std::runtime_error("truncated varint in MetaGraphDef");
      const uint8_t byte = *m_Pos++;
      value |= static_cast<uint64_t>(byte & 0x7F) << shift;
      if ((byte & 0x80) == 0)
        return value;
    }
    throw std::runtime_error("malformed varint in MetaGraphDef");
  }

  /** Read a field tag; returns false at the end of the message. */
  bool Next(uint32_t& field, uint32_t& wireType)
  {
    if (AtEnd())
      return false;
    const uint64_t tag = Varint();
    field = static_cast<uint32_t>(tag >> 3);
    wireType = static_cast<uint32_t>(tag & 7);
    return true;
  }

  WireReader Bytes()
  {
    const uint64_t len = Varint();
    if (len > static_cast<uint64_t>(m_End - m_Pos))
      throw std::runtime_error("truncated field in MetaGraphDef");
    WireReader sub(m_Pos, static_cast<size_t>(len));
    m_Pos += len;
    return sub;
  }

  std::string String()
  {
    WireReader sub = Bytes();
    return std::string(reinterpret_cast<const char*>(sub.m_Pos), sub.m_End - sub.m_Pos);
  }

  void Skip(uint32_t wireType)
  {
    switch (wireType)
    {
    case 0: Varint(); break;
    case 1: Advance(8); break;
    case 2: Bytes(); break;
    case 5: Advance(4); break;
    default: throw std::runtime_error("unsupported protobuf wire type " + std::to_string(wireType));
    }
  }

private:
  void Advance(size_t n)
  {
    if (n > static_cast<size_t>(m_End - m_Pos))
      throw std::runtime_error("truncated field in MetaGraphDef");
    m_Pos += n;
  }
  const uint8_t* m_Pos;
  const uint8_t* m_End;
};

// TensorShapeProto: dim = 2 (Dim: size = 1), unknown_rank = 3
void ParseShape(WireReader r, TensorSpec& spec)
{
  spec.unknownRank = false;
  spec.shape.clear();
  uint32_t f, w;
  while (r.Next(f, w))
  {
    if (f == 2 && w == 2)
    {
      WireReader dim = r.Bytes();
      int64_t size = -1;
      uint32_t df, dw;
      while (dim.Next(df, dw))
      {
        if (df == 1 && dw == 0)
          size = static_cast<int64_t>(dim.Varint());
        else
          dim.Skip(dw);
      }
      spec.shape.push_back(size);
    }
    else if (f == 3 && w == 0)
      spec.unknownRank = r.Varint() != 0;
    else
      r.Skip(w);
  }
}

// TensorInfo: name = 1, dtype = 2, tensor_shape = 3
TensorSpec ParseTensorInfo(WireReader r, const std::string& key)
{
  TensorSpec spec;
  spec.key = key;
  uint32_t f, w;
  while (r.Next(f, w))
  {
    if (f == 1 && w == 2)
      spec.tensorName = r.String();
    else if (f == 2 && w == 0)
      spec.dtype = static_cast<TF_DataType>(r.Varint());
    else if (f == 3 && w == 2)
      ParseShape(r.Bytes(), spec);
    else
      r.Skip(w);
  }
  return spec;
}

// Entry of a protobuf map<string, Message>: key = 1, value = 2 (an empty message if absent).
std::pair<std::string, WireReader> ReadMapEntry(WireReader r)
{
  std::string key;
  WireReader  value(nullptr, 0);
  uint32_t    f, w;
  while (r.Next(f, w))
  {
    if (f == 1 && w == 2)
      key = r.String();
    else if (f == 2 && w == 2)
      value = r.Bytes();
    else
      r.Skip(w);
  }
  return {key, value};
}

// map<string, TensorInfo> entry
TensorSpec ParseTensorMapEntry(WireReader r)
{
  auto entry = ReadMapEntry(r);
  return ParseTensorInfo(entry.second, entry.first);
}

// SignatureDef: inputs = 1, outputs = 2
Signature ParseSignatureDef(WireReader r, const std::string& name)
{
  Signature sig;
  sig.name = name;
  uint32_t f, w;
  while (r.Next(f, w))
  {
    if (f == 1 && w == 2)
      sig.inputs.push_back(ParseTensorMapEntry(r.Bytes()));
    else if (f == 2 && w == 2)
      sig.outputs.push_back(ParseTensorMapEntry(r.Bytes()));
    else
      r.Skip(w);
  }
  auto byKey = [](const TensorSpec& a, const TensorSpec& b) { return a.key < b.key; };
  std::sort(sig.inputs.begin(), sig.inputs.end(), byKey);
  std::sort(sig.outputs.begin(), sig.outputs.end(), byKey);
  return sig;
}

void ThrowIfError(const TF_Status* status, const std::string& context)
{
  if (tf::C().GetCode(status) != TF_OK)
    throw std::runtime_error(context + ": " + tf::C().Message(status));
}

// ConfigProto wire encoding for the few fields we set.
void PutVarint(std::string& out, uint64_t v)
{
  while (v >= 0x80)
  {
    out.push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

/** A varint field (an integer, a bool, an enum) `field` holding `value`. */
void PutVarintField(std::string& out, uint64_t field, uint64_t value)
{
  PutVarint(out, field << 3);
  PutVarint(out, value);
}

/** A length-delimited field (an embedded message) `field` holding `message`. */
void PutMessage(std::string& out, uint64_t field, const std::string& message)
{
  PutVarint(out, (field << 3) | 2);
  PutVarint(out, message.size());
  out += message;
}

} // namespace

std::string SerializeConfigProto(const SessionOptions& options)
{
  std::string config;
  if (options.intraOpThreads > 0)
    PutVarintField(config, 2, options.intraOpThreads); // intra_op_parallelism_threads
  if (options.interOpThreads > 0)
    PutVarintField(config, 5, options.interOpThreads); // inter_op_parallelism_threads
  if (options.gpuMemoryGrowth)
    PutMessage(config, 6, std::string("\x20\x01", 2)); // gpu_options: GPUOptions.allow_growth (4) = true
  PutVarintField(config, 7, 1); // allow_soft_placement = true (CPU fallback for ops without GPU kernels)
  if (options.servingGraphOptimisation)
  {
    std::string rewrite;
    PutVarintField(rewrite, 4, 1);  // memory_optimization = NO_MEM_OPT (1)
    PutVarintField(rewrite, 12, 1); // meta_optimizer_iterations = ONE (1)
    PutVarintField(rewrite, 32, 1); // disable_tfg_optimizer = true
    std::string graph;
    PutMessage(graph, 10, rewrite); // GraphOptions.rewrite_options
    PutMessage(config, 10, graph);  // ConfigProto.graph_options
  }
  return config;
}

// ---------------------------------------------------------------------------------------------

int64_t TensorSpec::NumberOfChannels() const
{
  if (unknownRank)
    return -1;
  if (shape.size() <= 1)
    return 1;
  return shape.back();
}

std::string TensorSpec::ToString() const
{
  std::ostringstream s;
  s << key << ": " << DataTypeName(dtype) << " " << (unknownRank ? "[unknown rank]" : ShapeToString(shape));
  if (!tensorName.empty())
    s << " (" << tensorName << ")";
  return s.str();
}

namespace
{
const TensorSpec* FindSpec(const std::vector<TensorSpec>& specs, const std::string& name)
{
  for (const auto& spec : specs)
    if (spec.key == name)
      return &spec;
  for (const auto& spec : specs)
    if (spec.tensorName == name || spec.tensorName.substr(0, spec.tensorName.find(':')) == name)
      return &spec;
  return nullptr;
}
} // namespace

const TensorSpec* Signature::FindInput(const std::string& name) const { return FindSpec(inputs, name); }
const TensorSpec* Signature::FindOutput(const std::string& name) const { return FindSpec(outputs, name); }

std::string Signature::Keys(const std::vector<TensorSpec>& specs)
{
  std::string keys;
  for (const auto& spec : specs)
    keys += (keys.empty() ? "" : ", ") + spec.key;
  return keys;
}

std::vector<Signature> ParseSignatures(const void* metaGraphDef, size_t length)
{
  std::vector<Signature> signatures;
  WireReader r(static_cast<const uint8_t*>(metaGraphDef), length);
  uint32_t f, w;
  while (r.Next(f, w))
  {
    if (f != 5 || w != 2) // MetaGraphDef.signature_def
    {
      r.Skip(w);
      continue;
    }
    auto entry = ReadMapEntry(r.Bytes());
    signatures.push_back(ParseSignatureDef(entry.second, entry.first));
  }
  std::sort(signatures.begin(), signatures.end(),
            [](const Signature& a, const Signature& b) { return a.name < b.name; });
  return signatures;
}

std::string DataTypeName(TF_DataType dtype)
{
  switch (dtype)
  {
  case TF_FLOAT: return "float32";
  case TF_DOUBLE: return "float64";
  case TF_INT32: return "int32";
  case TF_UINT8: return "uint8";
  case TF_INT16: return "int16";
  case TF_INT8: return "int8";
  case TF_INT64: return "int64";
  case TF_BOOL: return "bool";
  case TF_UINT16: return "uint16";
  case TF_UINT32: return "uint32";
  case TF_UINT64: return "uint64";
  case TF_HALF: return "float16";
  case TF_BFLOAT16: return "bfloat16";
  case TF_STRING: return "string";
  default: return "dtype#" + std::to_string(static_cast<int>(dtype));
  }
}

std::string ShapeToString(const std::vector<int64_t>& shape)
{
  std::ostringstream s;
  s << "[";
  for (size_t i = 0; i < shape.size(); ++i)
    s << (i ? ", " : "") << shape[i];
  s << "]";
  return s.str();
}

// ---------------------------------------------------------------------------------------------

SavedModel::SavedModel(const std::string& dir, const std::vector<std::string>& tags, const SessionOptions& options)
  : m_Directory(dir), m_Graph(tf::C().NewGraph())
{
  StatusPtr         status(tf::C().NewStatus());
  SessionOptionsPtr sessionOptions(tf::C().NewSessionOptions());
  const std::string config = SerializeConfigProto(options);
  tf::C().SetConfig(sessionOptions.get(), config.data(), config.size(), status.get());
  ThrowIfError(status.get(), "cannot set the TensorFlow session options");

  std::vector<const char*> tagPointers;
  for (const auto& tag : tags)
    tagPointers.push_back(tag.c_str());
  BufferPtr metaGraph(tf::C().NewBuffer());
  m_Session = tf::C().LoadSessionFromSavedModel(sessionOptions.get(), nullptr, dir.c_str(), tagPointers.data(),
                                           static_cast<int>(tagPointers.size()), m_Graph.get(), metaGraph.get(),
                                           status.get());
  if (tf::C().GetCode(status.get()) != TF_OK)
  {
    // TF's message can span many lines; the first one says what is wrong.
    std::string message = tf::C().Message(status.get());
    message = message.substr(0, message.find('\n'));
    throw std::runtime_error("cannot load the SavedModel " + dir + ": " + message);
  }
  m_Signatures = ParseSignatures(metaGraph->data, metaGraph->length);
}

SavedModel::~SavedModel()
{
  if (m_Session)
  {
    StatusPtr status(tf::C().NewStatus());
    tf::C().CloseSession(m_Session, status.get());
    tf::C().DeleteSession(m_Session, status.get());
  }
}

const Signature& SavedModel::GetServingSignature() const
{
  std::vector<const Signature*> candidates;
  std::string                   names;
  for (const auto& sig : m_Signatures)
  {
    if (sig.name == "serving_default")
      return sig;
    if (sig.name.rfind("__", 0) == 0) // __saved_model_init_op and the like
      continue;
    candidates.push_back(&sig);
    names += (names.empty() ? "" : ", ") + sig.name;
  }
  if (candidates.size() == 1)
    return *candidates.front();
  if (candidates.empty())
    throw std::runtime_error("the SavedModel " + m_Directory +
                             " has no serving signature (export it with a 'serving_default' signature)");
  throw std::runtime_error("the SavedModel " + m_Directory + " has no 'serving_default' signature but several others (" +
                           names + ")");
}

TF_Output SavedModel::ResolveTensor(const std::string& tensorName) const
{
  const size_t      colon = tensorName.rfind(':');
  const std::string opName = tensorName.substr(0, colon);
  const int         index = colon == std::string::npos ? 0 : std::stoi(tensorName.substr(colon + 1));
  TF_Operation*     op = tf::C().GraphOperationByName(m_Graph.get(), opName.c_str());
  if (!op)
    throw std::runtime_error("the graph of " + m_Directory + " has no operation '" + opName + "'");
  return TF_Output{op, index};
}

std::vector<TensorPtr> SavedModel::Run(const std::vector<TF_Output>& inputs, const std::vector<TF_Tensor*>& values,
                                       const std::vector<TF_Output>& outputs) const
{
  StatusPtr               status(tf::C().NewStatus());
  std::vector<TF_Tensor*> results(outputs.size(), nullptr);
  tf::C().SessionRun(m_Session, nullptr, inputs.data(), values.data(), static_cast<int>(inputs.size()), outputs.data(),
                results.data(), static_cast<int>(outputs.size()), nullptr, 0, nullptr, status.get());
  std::vector<TensorPtr> owned;
  for (TF_Tensor* t : results)
    owned.emplace_back(t);
  ThrowIfError(status.get(), "TensorFlow failed to run " + m_Directory);
  return owned;
}

// ---------------------------------------------------------------------------------------------

TensorPtr AllocateTensor(TF_DataType dtype, const std::vector<int64_t>& shape)
{
  size_t n = 1;
  for (int64_t d : shape)
    n *= static_cast<size_t>(d);
  TensorPtr t(tf::C().AllocateTensor(dtype, shape.data(), static_cast<int>(shape.size()), n * tf::C().DataTypeSize(dtype)));
  if (!t)
    throw std::runtime_error("cannot allocate a " + DataTypeName(dtype) + " tensor of shape " + ShapeToString(shape));
  return t;
}

TensorPtr ScalarTensor(TF_DataType dtype, double value)
{
  TensorPtr t;
  DispatchNumericType(dtype, [&](auto zero) {
    t = AllocateTensor(dtype, {1});
    *static_cast<decltype(zero)*>(tf::C().TensorData(t.get())) = static_cast<decltype(zero)>(value);
  });
  return t;
}

std::vector<int64_t> TensorShape(const TF_Tensor* tensor)
{
  std::vector<int64_t> shape(tf::C().NumDims(tensor));
  for (size_t i = 0; i < shape.size(); ++i)
    shape[i] = tf::C().Dim(tensor, static_cast<int>(i));
  return shape;
}

std::pair<std::string, TensorPtr> ExpressionToTensor(const std::string& expression)
{
  const size_t eq = expression.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == expression.size())
    throw std::runtime_error("'" + expression + "' is not of the form name=value (e.g. is_training=false, rate=0.5)");
  const std::string name = expression.substr(0, eq);
  std::string       value = expression.substr(eq + 1);

  std::vector<std::string> items;
  const bool               isVector = value.front() == '(' || value.back() == ')';
  if (isVector)
  {
    if (value.front() != '(' || value.back() != ')')
      throw std::runtime_error("'" + expression + "': unbalanced parentheses");
    std::string       inner = value.substr(1, value.size() - 2);
    std::stringstream ss(inner);
    std::string       item;
    while (std::getline(ss, item, ','))
    {
      item.erase(0, item.find_first_not_of(" \t"));
      item.erase(item.find_last_not_of(" \t") + 1);
      items.push_back(item);
    }
  }
  else
    items.push_back(value);

  static const std::regex intRe("[-+]?[0-9]+"), floatRe("[-+]?([0-9]+\\.[0-9]*|\\.[0-9]+|[0-9]+)([eE][-+]?[0-9]+)?");
  bool allInt = true, allFloat = true, allBool = true;
  for (auto& it : items)
  {
    std::string lower(it);
    std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
    allInt = allInt && std::regex_match(it, intRe);
    allFloat = allFloat && std::regex_match(it, floatRe);
    allBool = allBool && (lower == "true" || lower == "false");
  }
  // As OTBTF: a 1-D tensor, of one value for a scalar (it then feeds a [batch] input of a batch of one).
  const std::vector<int64_t> shape{static_cast<int64_t>(items.size())};
  TensorPtr t;
  if (allInt)
  {
    t = AllocateTensor(TF_INT32, shape);
    auto* p = static_cast<int32_t*>(tf::C().TensorData(t.get()));
    for (size_t i = 0; i < items.size(); ++i)
      p[i] = std::stoi(items[i]);
  }
  else if (allFloat)
  {
    t = AllocateTensor(TF_FLOAT, shape);
    auto* p = static_cast<float*>(tf::C().TensorData(t.get()));
    for (size_t i = 0; i < items.size(); ++i)
      p[i] = std::stof(items[i]);
  }
  else if (allBool)
  {
    t = AllocateTensor(TF_BOOL, shape);
    auto* p = static_cast<bool*>(tf::C().TensorData(t.get()));
    for (size_t i = 0; i < items.size(); ++i)
      p[i] = (items[i][0] == 't' || items[i][0] == 'T');
  }
  else
    throw std::runtime_error("'" + expression + "': the value must be a bool, an int, a float or a tuple of numbers");
  return {name, std::move(t)};
}

} // namespace tf
} // namespace otb

/*
 * Decloud: a small RAII layer over TensorFlow's C API.
 *
 * The tensorflow pip wheel exports the C API only (not the C++ one), so the engine loads and runs
 * SavedModels through TF_LoadSessionFromSavedModel / TF_SessionRun. The serving signature is read
 * from the serialized MetaGraphDef with a minimal protobuf wire-format decoder: no protobuf library,
 * hence no coupling to the protobuf ABI that TensorFlow was built with.
 */
#ifndef otbTensorflowCAPI_h
#define otbTensorflowCAPI_h

#include "OTBDecloudExport.h"

#include <tensorflow/c/c_api.h>

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace otb
{
namespace tf
{

/**
 * TensorFlow's C library, loaded on the first call (not when an app starts) with its own symbols first
 * (RTLD_DEEPBIND): linked the usual way, every process paid about 1 s of CPU in the dynamic linker at start-up,
 * looking up each of libtensorflow_cc's 500 000 symbol relocations through the hundred OTB / ITK / GDAL libraries
 * loaded before it, even for `-help`. Measured: 1.35 s -> 0.41 s to load it in an OTB process. Where TensorFlow
 * is already loaded (a Python process that imported tensorflow, then ran an app through pyotb), that copy is used.
 * RTLD_DEEPBIND only where it is safe, and the standard streams made safe for it first (src/otbTensorflowCAPI.cxx).
 *
 * Call TensorFlow through it: tf::C().SessionRun(...). The library is the one the module was configured with
 * (DECLOUD_TENSORFLOW_LIBRARY), else libtensorflow_cc.so.2 on the library path. Throws std::runtime_error naming
 * the library when it cannot be loaded.
 */
struct CApi
{
  decltype(&::TF_AllocateTensor) AllocateTensor;
  decltype(&::TF_CloseSession) CloseSession;
  decltype(&::TF_DataTypeSize) DataTypeSize;
  decltype(&::TF_DeleteBuffer) DeleteBuffer;
  decltype(&::TF_DeleteGraph) DeleteGraph;
  decltype(&::TF_DeleteSession) DeleteSession;
  decltype(&::TF_DeleteSessionOptions) DeleteSessionOptions;
  decltype(&::TF_DeleteStatus) DeleteStatus;
  decltype(&::TF_DeleteTensor) DeleteTensor;
  decltype(&::TF_Dim) Dim;
  decltype(&::TF_GetCode) GetCode;
  decltype(&::TF_GraphOperationByName) GraphOperationByName;
  decltype(&::TF_LoadSessionFromSavedModel) LoadSessionFromSavedModel;
  decltype(&::TF_Message) Message;
  decltype(&::TF_NewBuffer) NewBuffer;
  decltype(&::TF_NewGraph) NewGraph;
  decltype(&::TF_NewSessionOptions) NewSessionOptions;
  decltype(&::TF_NewStatus) NewStatus;
  decltype(&::TF_NumDims) NumDims;
  decltype(&::TF_SessionRun) SessionRun;
  decltype(&::TF_SetConfig) SetConfig;
  decltype(&::TF_TensorData) TensorData;
  decltype(&::TF_TensorElementCount) TensorElementCount;
  decltype(&::TF_TensorType) TensorType;
};
OTBDecloud_EXPORT const CApi& C();

/** Deleters so that every TF_* handle lives in a std::unique_ptr. */
struct StatusDeleter   { void operator()(TF_Status* p) const { tf::C().DeleteStatus(p); } };
struct TensorDeleter   { void operator()(TF_Tensor* p) const { tf::C().DeleteTensor(p); } };
struct BufferDeleter   { void operator()(TF_Buffer* p) const { tf::C().DeleteBuffer(p); } };
struct GraphDeleter    { void operator()(TF_Graph* p) const { tf::C().DeleteGraph(p); } };
struct OptionsDeleter  { void operator()(TF_SessionOptions* p) const { tf::C().DeleteSessionOptions(p); } };

using StatusPtr = std::unique_ptr<TF_Status, StatusDeleter>;
using TensorPtr = std::unique_ptr<TF_Tensor, TensorDeleter>;
using BufferPtr = std::unique_ptr<TF_Buffer, BufferDeleter>;
using GraphPtr = std::unique_ptr<TF_Graph, GraphDeleter>;
using SessionOptionsPtr = std::unique_ptr<TF_SessionOptions, OptionsDeleter>;

/** One input or output of a signature. A dimension of -1 is unknown. */
struct OTBDecloud_EXPORT TensorSpec
{
  std::string          key;         // signature key, e.g. "x" or "output_0"
  std::string          tensorName;  // graph tensor, e.g. "serving_default_x:0"
  TF_DataType          dtype = TF_FLOAT;
  bool                 unknownRank = true;
  std::vector<int64_t> shape;

  /** Number of channels as OTBTF counts them: last dimension for rank 2..4, 1 for rank 0..1, -1 if unknown. */
  int64_t NumberOfChannels() const;
  /** "x: float32 [-1, -1, -1, 4] (serving_default_x:0)" */
  std::string ToString() const;
};

/** A SignatureDef: inputs and outputs, each sorted by key (the order of a protobuf map is not defined). */
struct OTBDecloud_EXPORT Signature
{
  std::string             name;
  std::vector<TensorSpec> inputs;
  std::vector<TensorSpec> outputs;

  /** Find by signature key; also accepts the graph tensor name ("op:0") or op name. nullptr if absent. */
  const TensorSpec* FindInput(const std::string& name) const;
  const TensorSpec* FindOutput(const std::string& name) const;
  static std::string Keys(const std::vector<TensorSpec>& specs);  // "a, b, c"
};

/** Decode every SignatureDef of a serialized MetaGraphDef. Throws std::runtime_error on malformed data. */
OTBDecloud_EXPORT std::vector<Signature> ParseSignatures(const void* metaGraphDef, size_t length);

/** Name of a TF_DataType ("float32", "uint8", ...). */
OTBDecloud_EXPORT std::string DataTypeName(TF_DataType dtype);

/** Session configuration, serialized into a ConfigProto. 0 threads = TensorFlow's choice. */
struct OTBDecloud_EXPORT SessionOptions
{
  int  intraOpThreads = 0;
  int  interOpThreads = 0;
  bool gpuMemoryGrowth = true;  // do not grab the whole GPU at start-up
  /**
   * Grappler's passes for serving: one round of the optimisers instead of two, no MLIR (TFG) pass and no memory
   * optimiser (recomputation and swapping, for training graphs). The graph of gfnet-v5 is optimised in about
   * 0.8 s less (3.4 s -> 2.5 s from loading to the first tile's output, 2-core CPU), with the same outputs; the
   * layout optimiser (NCHW on a GPU) and the fusions are kept. false: TensorFlow's defaults.
   */
  bool servingGraphOptimisation = true;
};

/** The serialized ConfigProto of `options` (what SavedModel passes to TF_SetConfig). */
OTBDecloud_EXPORT std::string SerializeConfigProto(const SessionOptions& options);

/**
 * A loaded SavedModel: graph + session + its signatures. Not copyable; the session is closed and
 * deleted with the object. Run() is safe to call from one thread at a time per the TF C API contract
 * (TF_SessionRun itself is thread-safe, the object holds no per-call state).
 */
class OTBDecloud_EXPORT SavedModel
{
public:
  /** Load `dir` with the given tag set (default {"serve"}). Throws std::runtime_error with TF's message. */
  SavedModel(const std::string& dir, const std::vector<std::string>& tags = {"serve"},
             const SessionOptions& options = SessionOptions());
  ~SavedModel();
  SavedModel(const SavedModel&) = delete;
  SavedModel& operator=(const SavedModel&) = delete;

  const std::string& GetDirectory() const { return m_Directory; }
  const std::vector<Signature>& GetSignatures() const { return m_Signatures; }

  /**
   * The signature used for serving: "serving_default" if present, else the only signature there is.
   * Throws std::runtime_error naming the available signatures otherwise.
   */
  const Signature& GetServingSignature() const;

  /** Resolve "op:index" (or "op") to a graph output. Throws if the op does not exist. */
  TF_Output ResolveTensor(const std::string& tensorName) const;

  /** Run the session: feed inputs, fetch outputs. Throws std::runtime_error with TF's message. */
  std::vector<TensorPtr> Run(const std::vector<TF_Output>& inputs, const std::vector<TF_Tensor*>& values,
                             const std::vector<TF_Output>& outputs) const;

private:
  std::string            m_Directory;
  GraphPtr               m_Graph;
  TF_Session*            m_Session = nullptr;
  std::vector<Signature> m_Signatures;
};

/** Allocate a tensor of the given type and shape (owned). */
OTBDecloud_EXPORT TensorPtr AllocateTensor(TF_DataType dtype, const std::vector<int64_t>& shape);

/**
 * A tensor of shape [1] holding `value` cast to `dtype` (owned), e.g. a date fed to a model as seconds.
 * Throws std::runtime_error for a type that is not numeric (see DispatchNumericType).
 */
OTBDecloud_EXPORT TensorPtr ScalarTensor(TF_DataType dtype, double value);

/** Shape of a tensor. */
OTBDecloud_EXPORT std::vector<int64_t> TensorShape(const TF_Tensor* tensor);

/** "[1, 64, 64, 4]" */
OTBDecloud_EXPORT std::string ShapeToString(const std::vector<int64_t>& shape);

/**
 * A tensor from an OTBTF user placeholder expression "name=value", 1-D as in OTBTF: "true"/"false" -> bool,
 * integer -> int32, decimal -> float, each of shape [1]; "(1.0, 2, 3)" -> float or int32 of shape [3].
 * Throws on bad syntax.
 */
OTBDecloud_EXPORT std::pair<std::string, TensorPtr> ExpressionToTensor(const std::string& expression);

/**
 * Call f(T{}) with the C++ type T of a numeric TF_DataType (float32/64, int8/16/32/64, uint8/16/32/64).
 * Throws std::runtime_error for other types (string, bool, half...).
 */
template <class F>
void DispatchNumericType(TF_DataType dtype, F&& f)
{
  switch (dtype)
  {
  case TF_FLOAT: f(float{}); break;
  case TF_DOUBLE: f(double{}); break;
  case TF_INT8: f(int8_t{}); break;
  case TF_INT16: f(int16_t{}); break;
  case TF_INT32: f(int32_t{}); break;
  case TF_INT64: f(int64_t{}); break;
  case TF_UINT8: f(uint8_t{}); break;
  case TF_UINT16: f(uint16_t{}); break;
  case TF_UINT32: f(uint32_t{}); break;
  case TF_UINT64: f(uint64_t{}); break;
  default: throw std::runtime_error("tensors of type " + DataTypeName(dtype) + " are not supported for image data");
  }
}

} // namespace tf
} // namespace otb

#endif

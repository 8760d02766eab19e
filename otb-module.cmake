set(DOCUMENTATION "Decloud: cloud removal for Sentinel-2 images. TensorFlow C-API inference engine \
(OTBTF-compatible TensorflowModelServe) and the Decloud applications.")

otb_module(OTBDecloud
  ENABLE_SHARED
  DEPENDS
    OTBCommon
    OTBApplicationEngine
    OTBImageBase
    OTBImageManipulation
    OTBStreaming
    OTBGdalAdapters
  TEST_DEPENDS
    OTBTestKernel
    OTBCommandLine
  DESCRIPTION
    "${DOCUMENTATION}"
)

"""What one prediction request may carry: read by the API's proxy (functions/predict/request.py, from the
ModelCodeLayer) and by the endpoint's handler (inference.py, in the model archive's code/), so a batch the API
accepts is one the endpoint serves, and a caller of the endpoint itself meets the same bound. Standard library
only.
"""

# Images in one JSON batch. The endpoint's body limit decides it: a serverless endpoint takes at most 4 MB (6 MB
# on an instance; AWS's SageMaker serverless-endpoint and InvokeEndpoint pages), which leaves a JSON batch
# 2,950,848 B of image bytes once base64 and the JSON around them are counted (predict/request.py's
# payload_limits). Eight images leave each ~360 KB, a photo of ~1,000 px as JPEG (the model sees 224 px); a
# larger count would fit only thumbnails, and each image costs the endpoint a decode and a forward pass.
MAX_BATCH_IMAGES = 8

"""Remote generation back ends, one service per file, behind the same Protocols as the local ones:
openai_images (openai:), stability (stability:), replicate (replicate: images and video),
runway (runway: video). Shared behaviour lives in http.py; prices in prices.yaml."""

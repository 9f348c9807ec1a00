"""The HTTP gateway in front of Triton (`tts-gateway`, installed with the thin client's
``[gateway]`` extra): upstream Bert-VITS2's ``/voice`` API (`upstream`, `models`), OpenAI's
speech API (`openai_speech`), long-form jobs (`jobs`), a playground page (`playground`,
``static/``) and VOICEVOX's engine API (`voicevox`), over one `Backend` (`backend`).
`app.create_app` assembles them; `cli` is the command.

Imports the thin client and the wire contract only: adding a voice from a checkpoint runs
`tts-export` as a separate process (`models_add`), it never imports the exporter.
"""

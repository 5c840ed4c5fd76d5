// The page's SDKs: what a web app imports, exposed on `window` for the test's page.evaluate calls.
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";

globalThis.OpenAI = OpenAI;
globalThis.Anthropic = Anthropic;

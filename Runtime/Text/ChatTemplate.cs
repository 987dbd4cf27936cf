namespace SonicVerse.Runtime.Text;

/// <summary>Which Mistral-7B-Instruct-v0.1 chat template (reference kit tokenizer/sonicverse_prompts.json).</summary>
public enum ChatTemplateVariant
{
    /// <summary>tokenizer_config.json of late 2023: <c>&lt;s&gt;[INST] {user} [/INST]</c>. SonicVerse's reference uses it.</summary>
    Old,

    /// <summary>mid-2024 mistral-common style: <c>&lt;s&gt; [INST] {user} [/INST]</c>.</summary>
    New,
}

/// <summary>Mistral Instruct v0.1 single-turn chat template (no system role).</summary>
public static class ChatTemplate
{
    /// <summary>The template's text after the BOS token: what gets SentencePiece-encoded.</summary>
    public static string Body(string user, ChatTemplateVariant variant) => variant switch
    {
        ChatTemplateVariant.Old => "[INST] " + user + " [/INST]",
        ChatTemplateVariant.New => " [INST] " + user + " [/INST]",
        _ => throw new ArgumentOutOfRangeException(nameof(variant), variant, null),
    };

    /// <summary>The chat string as HF's <c>apply_chat_template(tokenize=False)</c> renders it.</summary>
    public static string Render(string user, ChatTemplateVariant variant) => "<s>" + Body(user, variant);

    /// <summary>Ids of the whole template: BOS, then the body encoded in one piece. Equals HF's template-then-tokenize
    /// (its slow LlamaTokenizer splits out "&lt;s&gt;" and encodes the rest on its own) except that literal
    /// "&lt;s&gt;"/"&lt;/s&gt;" inside <paramref name="user"/> stay text here: user input cannot inject control tokens.</summary>
    public static int[] Encode(MistralTokenizer tokenizer, string user, ChatTemplateVariant variant) =>
        [tokenizer.BosId, .. tokenizer.Encode(Body(user, variant), addBos: false)];
}
